package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	transcoderv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/grpc_json_transcoder/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/anypb"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	// Every extension the configurations use: "@type" resolves only for
	// registered types, so an extension missing here fails loudly.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/resource_monitors/downstream_connections/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
)

func runEnvoy(args []string) error {
	flags := flag.NewFlagSet("envoy", flag.ContinueOnError)
	descriptorPath := flags.String("descriptor", "", "descriptor set the transcoders load (required)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *descriptorPath == "" || flags.NArg() == 0 {
		return errors.New("need --descriptor and at least one envoy.yaml")
	}
	services, messages, err := loadDescriptor(*descriptorPath)
	if err != nil {
		return err
	}
	var findings findingsError
	for _, path := range flags.Args() {
		configs, err := envoyConfigsIn(path)
		if err != nil {
			findings = append(findings, path+": "+err.Error())
			continue
		}
		if len(configs) == 0 {
			findings = append(findings, path+": no Envoy configuration (neither a bootstrap nor a ConfigMap with envoy.yaml)")
		}
		for where, config := range configs {
			for _, problem := range checkEnvoyConfig(config, services, messages) {
				findings = append(findings, where+": "+problem)
			}
			for _, problem := range checkSdsFiles(config) {
				findings = append(findings, where+": "+problem)
			}
		}
	}
	if len(findings) > 0 {
		return findings
	}
	return nil
}

// loadDescriptor returns the services and message types of a descriptor set.
func loadDescriptor(path string) (map[string]protoreflect.ServiceDescriptor, map[string]bool, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	set := &descriptorpb.FileDescriptorSet{}
	if err := proto.Unmarshal(raw, set); err != nil {
		return nil, nil, fmt.Errorf("%s: not a FileDescriptorSet: %w", path, err)
	}
	files, err := protodesc.NewFiles(set)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: incomplete descriptor set (built without imports?): %w", path, err)
	}
	services := map[string]protoreflect.ServiceDescriptor{}
	messages := map[string]bool{}
	files.RangeFiles(func(file protoreflect.FileDescriptor) bool {
		for i := 0; i < file.Services().Len(); i++ {
			service := file.Services().Get(i)
			services[string(service.FullName())] = service
		}
		var addMessages func(protoreflect.MessageDescriptors)
		addMessages = func(list protoreflect.MessageDescriptors) {
			for i := 0; i < list.Len(); i++ {
				messages[string(list.Get(i).FullName())] = true
				addMessages(list.Get(i).Messages())
			}
		}
		addMessages(file.Messages())
		return true
	})
	return services, messages, nil
}

// envoyConfig is one Envoy bootstrap and the files beside it (the other keys
// of its ConfigMap, such as SDS sources), by file name.
type envoyConfig struct {
	bootstrap []byte
	files     map[string][]byte
}

// envoyConfigsIn returns the Envoy bootstraps in a file, by location: the file
// itself, or the envoy.yaml of each ConfigMap when it holds rendered manifests.
func envoyConfigsIn(path string) (map[string]envoyConfig, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	configs := map[string]envoyConfig{}
	reader := k8syaml.NewYAMLReader(bufio.NewReader(file))
	manifests := false
	var whole [][]byte
	for {
		document, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		whole = append(whole, document)
		var object struct {
			Kind     string                `json:"kind"`
			Metadata struct{ Name string } `json:"metadata"`
			Data     map[string]string     `json:"data"`
		}
		if yaml.Unmarshal(document, &object) != nil || object.Kind == "" {
			continue
		}
		manifests = true
		if config, ok := object.Data["envoy.yaml"]; ok && object.Kind == "ConfigMap" {
			files := map[string][]byte{}
			for key, value := range object.Data {
				files[key] = []byte(value)
			}
			configs[fmt.Sprintf("%s (ConfigMap %s)", path, object.Metadata.Name)] = envoyConfig{bootstrap: []byte(config), files: files}
		}
	}
	if !manifests && len(whole) > 0 {
		configs[path] = envoyConfig{bootstrap: bytes.Join(whole, []byte("\n---\n"))}
	}
	return configs, nil
}

func checkEnvoyConfig(config envoyConfig, services map[string]protoreflect.ServiceDescriptor, messages map[string]bool) []string {
	asJSON, err := yaml.YAMLToJSON(config.bootstrap)
	if err != nil {
		return []string{"not YAML: " + err.Error()}
	}
	bootstrap := &bootstrapv3.Bootstrap{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(asJSON, bootstrap); err != nil {
		return []string{"not an Envoy v3 Bootstrap: " + err.Error()}
	}
	var problems []string
	validateDeep(bootstrap.ProtoReflect(), "bootstrap", &problems)

	clusters := map[string]bool{}
	for _, cluster := range bootstrap.GetStaticResources().GetClusters() {
		clusters[cluster.GetName()] = true
	}
	for _, listener := range bootstrap.GetStaticResources().GetListeners() {
		for _, chain := range listener.GetFilterChains() {
			for _, filter := range chain.GetFilters() {
				hcm := &hcmv3.HttpConnectionManager{}
				if filter.GetTypedConfig() == nil || !filter.GetTypedConfig().MessageIs(hcm) {
					continue
				}
				if err := filter.GetTypedConfig().UnmarshalTo(hcm); err != nil {
					problems = append(problems, fmt.Sprintf("listener %s: %v", listener.GetName(), err))
					continue
				}
				problems = append(problems, checkConnectionManager(listener.GetName(), hcm, clusters, services, messages)...)
			}
		}
	}
	return problems
}

func checkConnectionManager(listener string, hcm *hcmv3.HttpConnectionManager, clusters map[string]bool, services map[string]protoreflect.ServiceDescriptor, messages map[string]bool) []string {
	var problems []string
	for _, host := range hcm.GetRouteConfig().GetVirtualHosts() {
		for _, route := range host.GetRoutes() {
			if name := route.GetRoute().GetCluster(); name != "" && !clusters[name] {
				problems = append(problems, fmt.Sprintf("listener %s: route %s goes to undefined cluster %q", listener, route.GetMatch().String(), name))
			}
		}
	}
	filters := hcm.GetHttpFilters()
	if len(filters) == 0 || filters[len(filters)-1].GetName() != "envoy.filters.http.router" {
		problems = append(problems, fmt.Sprintf("listener %s: the last HTTP filter must be envoy.filters.http.router", listener))
	}
	for _, filter := range filters {
		transcoder := &transcoderv3.GrpcJsonTranscoder{}
		if filter.GetTypedConfig() == nil || !filter.GetTypedConfig().MessageIs(transcoder) {
			continue
		}
		if err := filter.GetTypedConfig().UnmarshalTo(transcoder); err != nil {
			problems = append(problems, err.Error())
			continue
		}
		for _, name := range transcoder.GetServices() {
			service, ok := services[name]
			if !ok {
				problems = append(problems, fmt.Sprintf("listener %s: transcoder service %q is not in the descriptor set (Envoy would not start)", listener, name))
				continue
			}
			for i := 0; i < service.Methods().Len(); i++ {
				method := service.Methods().Get(i)
				// A bidirectional stream has no REST form (the transcoder would turn it into one
				// JSON array in and one out, which the batch routes already are): none is expected.
				if method.IsStreamingClient() && method.IsStreamingServer() {
					continue
				}
				if !hasHTTPRule(method) && !transcoder.GetAutoMapping() {
					problems = append(problems, fmt.Sprintf("listener %s: %s has no google.api.http rule: no REST route reaches it", listener, method.FullName()))
				}
			}
		}
		if transcoder.GetConvertGrpcStatus() && !messages["google.rpc.BadRequest"] {
			problems = append(problems, fmt.Sprintf("listener %s: convert_grpc_status needs google.rpc.BadRequest in the descriptor set to render error details", listener))
		}
	}
	return problems
}

// hasHTTPRule reports whether a method carries the google.api.http option
// (extension 72295728), read from the raw options: no googleapis Go types needed.
func hasHTTPRule(method protoreflect.MethodDescriptor) bool {
	options, ok := method.Options().(*descriptorpb.MethodOptions)
	if !ok || options == nil {
		return false
	}
	const httpRuleField = 72295728
	found := false
	options.ProtoReflect().Range(func(field protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		if field.Number() == httpRuleField {
			found = true
		}
		return !found
	})
	if found {
		return true
	}
	unknown := options.ProtoReflect().GetUnknown()
	for len(unknown) > 0 {
		number, _, length := protowire.ConsumeField(unknown)
		if length < 0 {
			return false
		}
		if number == httpRuleField {
			return true
		}
		unknown = unknown[length:]
	}
	return false
}

// validateDeep runs protoc-gen-validate's ValidateAll on the root message and
// on the content of every google.protobuf.Any (typed_config) nested in it:
// ValidateAll covers embedded messages itself but never looks inside an Any.
func validateDeep(message protoreflect.Message, where string, problems *[]string) {
	if validator, ok := message.Interface().(interface{ ValidateAll() error }); ok {
		if err := validator.ValidateAll(); err != nil {
			*problems = append(*problems, fmt.Sprintf("%s: %v", where, err))
		}
	}
	findAnys(message, where, problems)
}

func findAnys(message protoreflect.Message, where string, problems *[]string) {
	if packed, ok := message.Interface().(*anypb.Any); ok {
		inner, err := packed.UnmarshalNew()
		if err != nil {
			*problems = append(*problems, fmt.Sprintf("%s: %v", where, err))
			return
		}
		validateDeep(inner.ProtoReflect(), where+"<"+string(inner.ProtoReflect().Descriptor().FullName())+">", problems)
		return
	}
	message.Range(func(field protoreflect.FieldDescriptor, value protoreflect.Value) bool {
		if field.Message() == nil {
			return true
		}
		path := where + "." + string(field.Name())
		switch {
		case field.IsList():
			list := value.List()
			for i := 0; i < list.Len(); i++ {
				findAnys(list.Get(i).Message(), fmt.Sprintf("%s[%d]", path, i), problems)
			}
		case field.IsMap():
			if field.MapValue().Message() != nil {
				value.Map().Range(func(key protoreflect.MapKey, entry protoreflect.Value) bool {
					findAnys(entry.Message(), fmt.Sprintf("%s[%s]", path, key.String()), problems)
					return true
				})
			}
		default:
			findAnys(value.Message(), path, problems)
		}
		return true
	})
}

// sdsReference is a TLS context's reference to a secret of a file-based SDS
// source, and what the context needs from it.
type sdsReference struct {
	where, name, path string
	validation        bool
}

// checkSdsFiles checks that every file-based SDS source a bootstrap names is
// shipped beside it (a key of the same ConfigMap, mounted in one directory),
// decodes into Envoy's DiscoveryResponse of Secrets with their validation
// rules, and holds the named secret of the kind the context needs: Envoy would
// otherwise start with a listener or cluster that never gets its certificate.
func checkSdsFiles(config envoyConfig) []string {
	asJSON, err := yaml.YAMLToJSON(config.bootstrap)
	if err != nil {
		return nil // reported by checkEnvoyConfig
	}
	bootstrap := &bootstrapv3.Bootstrap{}
	if protojson.Unmarshal(asJSON, bootstrap) != nil {
		return nil
	}
	var references []sdsReference
	collectSdsReferences(bootstrap.ProtoReflect(), "bootstrap", false, &references)
	var problems []string
	for _, reference := range references {
		if reference.path == "" {
			problems = append(problems, fmt.Sprintf("%s: secret %q comes from no file (only file-based SDS is used here)", reference.where, reference.name))
			continue
		}
		raw, ok := config.files[path.Base(reference.path)]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: SDS file %s is not shipped beside the bootstrap", reference.where, reference.path))
			continue
		}
		secrets, fileProblems := decodeSdsFile(raw, path.Base(reference.path))
		problems = append(problems, fileProblems...)
		secret, ok := secrets[reference.name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s: SDS file %s has no secret %q", reference.where, reference.path, reference.name))
		case reference.validation && secret.GetValidationContext() == nil:
			problems = append(problems, fmt.Sprintf("%s: secret %q in %s is not a validation_context", reference.where, reference.name, reference.path))
		case !reference.validation && secret.GetTlsCertificate() == nil:
			problems = append(problems, fmt.Sprintf("%s: secret %q in %s is not a tls_certificate", reference.where, reference.name, reference.path))
		}
	}
	return problems
}

// decodeSdsFile reads a file-based SDS source: a DiscoveryResponse (only its
// resources field; its Go type would pull gRPC into this module) whose
// resources are TLS Secrets, by name.
func decodeSdsFile(raw []byte, name string) (map[string]*tlsv3.Secret, []string) {
	asJSON, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return nil, []string{name + ": not YAML: " + err.Error()}
	}
	var response struct {
		Resources []json.RawMessage `json:"resources"`
	}
	decoder := json.NewDecoder(bytes.NewReader(asJSON))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(&response); err != nil {
		return nil, []string{name + ": not an SDS DiscoveryResponse of resources: " + err.Error()}
	}
	var problems []string
	secrets := map[string]*tlsv3.Secret{}
	for i, resource := range response.Resources {
		packed := &anypb.Any{}
		secret := &tlsv3.Secret{}
		if err := protojson.Unmarshal(resource, packed); err != nil {
			problems = append(problems, fmt.Sprintf("%s: resource %d: %v", name, i, err))
			continue
		}
		if err := packed.UnmarshalTo(secret); err != nil {
			problems = append(problems, fmt.Sprintf("%s: resource %d is not an envoy.extensions.transport_sockets.tls.v3.Secret", name, i))
			continue
		}
		validateDeep(secret.ProtoReflect(), fmt.Sprintf("%s: secret %s", name, secret.GetName()), &problems)
		secrets[secret.GetName()] = secret
	}
	return secrets, problems
}

// collectSdsReferences finds every SdsSecretConfig in a message, inside
// typed_config Anys too, noting whether it names a validation context.
func collectSdsReferences(message protoreflect.Message, where string, validation bool, references *[]sdsReference) {
	if packed, ok := message.Interface().(*anypb.Any); ok {
		inner, err := packed.UnmarshalNew()
		if err == nil {
			collectSdsReferences(inner.ProtoReflect(), where, false, references)
		}
		return
	}
	if config, ok := message.Interface().(*tlsv3.SdsSecretConfig); ok {
		*references = append(*references, sdsReference{
			where:      where,
			name:       config.GetName(),
			path:       config.GetSdsConfig().GetPathConfigSource().GetPath(),
			validation: validation,
		})
		return
	}
	message.Range(func(field protoreflect.FieldDescriptor, value protoreflect.Value) bool {
		if field.Message() == nil || field.IsMap() {
			return true
		}
		path := where + "." + string(field.Name())
		isValidation := field.Name() == "validation_context_sds_secret_config"
		if field.IsList() {
			list := value.List()
			for i := 0; i < list.Len(); i++ {
				collectSdsReferences(list.Get(i).Message(), fmt.Sprintf("%s[%d]", path, i), isValidation, references)
			}
			return true
		}
		collectSdsReferences(value.Message(), path, isValidation, references)
		return true
	})
}
