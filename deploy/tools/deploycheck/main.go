// Command deploycheck checks deployment files offline, where no Envoy and no
// Kubernetes API server are available:
//
//	deploycheck envoy --descriptor fraud.binpb envoy.yaml...
//	deploycheck k8s rendered.yaml...
//	deploycheck compose docker-compose.yml...
//
// envoy: each file must decode into Envoy's Bootstrap (v3) with no unknown
// field and no unresolvable "@type", pass the protoc-gen-validate rules of
// every message (typed configs included), route only to defined clusters, and
// name in each gRPC-JSON transcoder only services that exist in the
// descriptor set, as Envoy checks at startup.
//
// k8s: each document of a rendered chart must decode strictly into its
// Kubernetes type (a misspelt field fails instead of being dropped by the API
// server), and named ports, volumes and ConfigMaps must resolve.
//
// The Envoy API version is go-control-plane's, kept next to the image tag in
// deploy/helm/fraud-scoring/values.yaml; the Kubernetes one matches kind's node.
package main

import (
	"errors"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "envoy":
		err = runEnvoy(os.Args[2:])
	case "k8s":
		err = runKubernetes(os.Args[2:])
	case "compose":
		err = runCompose(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		var findings findingsError
		if errors.As(err, &findings) {
			for _, finding := range findings {
				fmt.Fprintln(os.Stderr, finding)
			}
			fmt.Fprintf(os.Stderr, "deploycheck %s: %d problem(s)\n", os.Args[1], len(findings))
		} else {
			fmt.Fprintf(os.Stderr, "deploycheck %s: %v\n", os.Args[1], err)
		}
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: deploycheck envoy --descriptor <descriptor set> <envoy.yaml>...\n       deploycheck k8s <manifests.yaml>...\n       deploycheck compose <docker-compose.yml>...")
	os.Exit(2)
}

// findingsError carries every problem found, one line each, "<file>: <problem>".
type findingsError []string

func (f findingsError) Error() string { return fmt.Sprintf("%d problem(s)", len(f)) }
