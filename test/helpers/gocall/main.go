// Command gocall makes one unary call with grpc-go and prints the status.
//
// usage: gocall [-service-config FILE] <target> <method path> <request as hex>
//
// With -service-config (JSON, e.g. deploy/service-config.json) the channel
// uses it as its default service config (grpc.WithDefaultServiceConfig), so
// its retryPolicy applies; a config the target's DNS name publishes (TXT
// record _grpc_config.<name>) wins over it, as grpc-go reads those by default.
// Prints one JSON line: {"code": "<status code name>", "details": "..."}.
package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// rawCodec passes request and response bytes as they are.
type rawCodec struct{}

func (rawCodec) Marshal(value any) ([]byte, error) { return *(value.(*[]byte)), nil }

func (rawCodec) Unmarshal(data []byte, value any) error {
	*(value.(*[]byte)) = append([]byte(nil), data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }

func main() {
	serviceConfigFile := flag.String("service-config", "", "default service config (JSON file)")
	flag.Parse()
	if flag.NArg() != 3 {
		fmt.Fprintln(os.Stderr, "usage: gocall [-service-config FILE] <target> <method path> <request as hex>")
		os.Exit(2)
	}
	target, method := flag.Arg(0), flag.Arg(1)
	request, err := hex.DecodeString(flag.Arg(2))
	if err != nil {
		fmt.Fprintln(os.Stderr, "the request is not hex:", err)
		os.Exit(2)
	}
	options := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if *serviceConfigFile != "" {
		config, err := os.ReadFile(*serviceConfigFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		options = append(options, grpc.WithDefaultServiceConfig(string(config)))
	}
	conn, err := grpc.NewClient(target, options...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var response []byte
	callErr := conn.Invoke(ctx, method, &request, &response, grpc.ForceCodec(rawCodec{}))
	answer := status.Convert(callErr)
	line, _ := json.Marshal(map[string]string{"code": answer.Code().String(), "details": answer.Message()})
	fmt.Println(string(line))
}
