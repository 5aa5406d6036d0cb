package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// serviceMonitor is the part of the Prometheus Operator's CRD the chart uses;
// strict decoding rejects any other field.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector struct {
			MatchNames []string `json:"matchNames,omitempty"`
			Any        bool     `json:"any,omitempty"`
		} `json:"namespaceSelector"`
		Endpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path,omitempty"`
			Interval      string `json:"interval,omitempty"`
			ScrapeTimeout string `json:"scrapeTimeout,omitempty"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// prometheusRule is the part of the Prometheus Operator's PrometheusRule the
// chart renders (deploy/prometheus/fraud-scoring.rules.yaml); promtool checks
// the rules themselves (test/deploy/alertRules.test.ts).
type prometheusRule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Alert       string            `json:"alert,omitempty"`
				Record      string            `json:"record,omitempty"`
				Expr        string            `json:"expr"`
				For         string            `json:"for,omitempty"`
				Labels      map[string]string `json:"labels,omitempty"`
				Annotations map[string]string `json:"annotations,omitempty"`
			} `json:"rules"`
		} `json:"groups"`
	} `json:"spec"`
}

// certificate is the part of cert-manager's Certificate (cert-manager.io/v1)
// the chart uses; strict decoding rejects any other field.
type certificate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		SecretName     string `json:"secretName"`
		SecretTemplate *struct {
			Labels      map[string]string `json:"labels,omitempty"`
			Annotations map[string]string `json:"annotations,omitempty"`
		} `json:"secretTemplate,omitempty"`
		Duration    *metav1.Duration `json:"duration,omitempty"`
		RenewBefore *metav1.Duration `json:"renewBefore,omitempty"`
		DNSNames    []string         `json:"dnsNames"`
		PrivateKey  *struct {
			Algorithm      string `json:"algorithm,omitempty"`
			Size           int    `json:"size,omitempty"`
			RotationPolicy string `json:"rotationPolicy,omitempty"`
		} `json:"privateKey,omitempty"`
		Usages    []string `json:"usages,omitempty"`
		IssuerRef struct {
			Name  string `json:"name"`
			Kind  string `json:"kind,omitempty"`
			Group string `json:"group,omitempty"`
		} `json:"issuerRef"`
	} `json:"spec"`
}

// rendered holds one file's objects by kind, for the cross-object checks.
type rendered struct {
	deployments     []*appsv1.Deployment
	services        []*corev1.Service
	configMaps      map[string]bool
	secrets         map[string]bool
	hpas            []*autoscalingv2.HorizontalPodAutoscaler
	pdbs            []*policyv1.PodDisruptionBudget
	claims          []*corev1.PersistentVolumeClaim
	ingresses       []*networkingv1.Ingress
	serviceMonitors []*serviceMonitor
	certificates    []*certificate
	networkPolicies []*networkingv1.NetworkPolicy
}

var portName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$`)

func runKubernetes(paths []string) error {
	if len(paths) == 0 {
		return errors.New("need at least one manifest file")
	}
	var findings findingsError
	for _, path := range paths {
		for _, problem := range checkManifestFile(path) {
			findings = append(findings, path+": "+problem)
		}
	}
	if len(findings) > 0 {
		return findings
	}
	return nil
}

func checkManifestFile(path string) []string {
	file, err := os.Open(path)
	if err != nil {
		return []string{err.Error()}
	}
	defer file.Close()
	objects := rendered{configMaps: map[string]bool{}, secrets: map[string]bool{}}
	var problems []string
	reader := k8syaml.NewYAMLReader(bufio.NewReader(file))
	for {
		document, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return append(problems, "unreadable YAML: "+err.Error())
		}
		if len(bytes.TrimSpace(stripComments(document))) == 0 {
			continue
		}
		if problem := decode(document, &objects); problem != "" {
			problems = append(problems, problem)
		}
	}
	return append(problems, crossCheck(&objects)...)
}

func stripComments(document []byte) []byte {
	var kept [][]byte
	for _, line := range bytes.Split(document, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			kept = append(kept, line)
		}
	}
	return bytes.Join(kept, []byte("\n"))
}

// decode reads one document strictly into its type; "" when it is fine.
func decode(document []byte, objects *rendered) string {
	var meta metav1.TypeMeta
	if err := yaml.Unmarshal(document, &meta); err != nil {
		return "not a Kubernetes object: " + err.Error()
	}
	strict := func(target any) string {
		if err := yaml.UnmarshalStrict(document, target); err != nil {
			return fmt.Sprintf("%s %s: %v", meta.APIVersion, meta.Kind, err)
		}
		return ""
	}
	switch meta.APIVersion + "/" + meta.Kind {
	case "v1/ConfigMap":
		object := &corev1.ConfigMap{}
		if problem := strict(object); problem != "" {
			return problem
		}
		objects.configMaps[object.Name] = true
		return checkName(meta.Kind, object.ObjectMeta)
	case "v1/Secret":
		object := &corev1.Secret{}
		if problem := strict(object); problem != "" {
			return problem
		}
		objects.secrets[object.Name] = true
		return checkName(meta.Kind, object.ObjectMeta)
	case "v1/ServiceAccount":
		object := &corev1.ServiceAccount{}
		if problem := strict(object); problem != "" {
			return problem
		}
		return checkName(meta.Kind, object.ObjectMeta)
	case "v1/Service":
		object := &corev1.Service{}
		if problem := strict(object); problem != "" {
			return problem
		}
		objects.services = append(objects.services, object)
		return checkName(meta.Kind, object.ObjectMeta)
	case "v1/PersistentVolumeClaim":
		object := &corev1.PersistentVolumeClaim{}
		if problem := strict(object); problem != "" {
			return problem
		}
		objects.claims = append(objects.claims, object)
		return checkName(meta.Kind, object.ObjectMeta)
	case "apps/v1/Deployment":
		object := &appsv1.Deployment{}
		if problem := strict(object); problem != "" {
			return problem
		}
		objects.deployments = append(objects.deployments, object)
		return checkName(meta.Kind, object.ObjectMeta)
	case "autoscaling/v2/HorizontalPodAutoscaler":
		object := &autoscalingv2.HorizontalPodAutoscaler{}
		if problem := strict(object); problem != "" {
			return problem
		}
		objects.hpas = append(objects.hpas, object)
		return checkName(meta.Kind, object.ObjectMeta)
	case "policy/v1/PodDisruptionBudget":
		object := &policyv1.PodDisruptionBudget{}
		if problem := strict(object); problem != "" {
			return problem
		}
		objects.pdbs = append(objects.pdbs, object)
		return checkName(meta.Kind, object.ObjectMeta)
	case "networking.k8s.io/v1/Ingress":
		object := &networkingv1.Ingress{}
		if problem := strict(object); problem != "" {
			return problem
		}
		objects.ingresses = append(objects.ingresses, object)
		return checkName(meta.Kind, object.ObjectMeta)
	case "monitoring.coreos.com/v1/ServiceMonitor":
		object := &serviceMonitor{}
		if problem := strict(object); problem != "" {
			return problem
		}
		objects.serviceMonitors = append(objects.serviceMonitors, object)
		return checkName(meta.Kind, object.ObjectMeta)
	case "monitoring.coreos.com/v1/PrometheusRule":
		object := &prometheusRule{}
		if problem := strict(object); problem != "" {
			return problem
		}
		if len(object.Spec.Groups) == 0 {
			return fmt.Sprintf("PrometheusRule %s: no rule groups", object.Name)
		}
		return checkName(meta.Kind, object.ObjectMeta)
	case "cert-manager.io/v1/Certificate":
		object := &certificate{}
		if problem := strict(object); problem != "" {
			return problem
		}
		objects.certificates = append(objects.certificates, object)
		return checkName(meta.Kind, object.ObjectMeta)
	case "networking.k8s.io/v1/NetworkPolicy":
		object := &networkingv1.NetworkPolicy{}
		if problem := strict(object); problem != "" {
			return problem
		}
		objects.networkPolicies = append(objects.networkPolicies, object)
		return checkName(meta.Kind, object.ObjectMeta)
	default:
		return fmt.Sprintf("%s %s: no strict check for this kind; add it to deploy/tools/deploycheck", meta.APIVersion, meta.Kind)
	}
}

func checkName(kind string, meta metav1.ObjectMeta) string {
	if len(meta.Name) == 0 || len(meta.Name) > 63 {
		return fmt.Sprintf("%s %q: name must be 1 to 63 characters", kind, meta.Name)
	}
	for key, value := range meta.Labels {
		if len(value) > 63 {
			return fmt.Sprintf("%s %s: label %s is longer than 63 characters", kind, meta.Name, key)
		}
	}
	return ""
}

func crossCheck(objects *rendered) []string {
	var problems []string
	containerPorts := map[string]bool{}
	podLabels := map[string]string{}
	deployments := map[string]*appsv1.Deployment{}
	for _, deployment := range objects.deployments {
		deployments[deployment.Name] = deployment
		problems = append(problems, checkPod(deployment, objects, containerPorts)...)
		for key, value := range deployment.Spec.Template.Labels {
			podLabels[key] = value
		}
	}
	services := map[string]map[string]bool{}
	for _, service := range objects.services {
		ports := map[string]bool{}
		for _, port := range service.Spec.Ports {
			ports[port.Name] = true
			if port.TargetPort.Type == intstr.String && !containerPorts[port.TargetPort.StrVal] {
				problems = append(problems, fmt.Sprintf("Service %s: port %s targets %q, which no container declares", service.Name, port.Name, port.TargetPort.StrVal))
			}
		}
		services[service.Name] = ports
		if !selects(service.Spec.Selector, podLabels) {
			problems = append(problems, fmt.Sprintf("Service %s: selector %v matches no pod template", service.Name, service.Spec.Selector))
		}
	}
	for _, hpa := range objects.hpas {
		deployment, ok := deployments[hpa.Spec.ScaleTargetRef.Name]
		if !ok {
			problems = append(problems, fmt.Sprintf("HorizontalPodAutoscaler %s: scales %q, which is not rendered", hpa.Name, hpa.Spec.ScaleTargetRef.Name))
			continue
		}
		if deployment.Spec.Replicas != nil {
			problems = append(problems, fmt.Sprintf("HorizontalPodAutoscaler %s: Deployment %s also sets replicas, so every upgrade resets the scale", hpa.Name, deployment.Name))
		}
		for _, metric := range hpa.Spec.Metrics {
			if metric.ContainerResource != nil && !hasContainer(deployment, metric.ContainerResource.Container) {
				problems = append(problems, fmt.Sprintf("HorizontalPodAutoscaler %s: no container %q in Deployment %s", hpa.Name, metric.ContainerResource.Container, deployment.Name))
			}
		}
	}
	problems = append(problems, checkClaims(objects)...)
	problems = append(problems, checkCertificates(objects)...)
	problems = append(problems, checkNetworkPolicies(objects, podLabels, containerPorts)...)
	for _, pdb := range objects.pdbs {
		if pdb.Spec.Selector == nil || !selects(pdb.Spec.Selector.MatchLabels, podLabels) {
			problems = append(problems, fmt.Sprintf("PodDisruptionBudget %s: selector matches no pod template", pdb.Name))
		}
	}
	for _, monitor := range objects.serviceMonitors {
		matched := false
		for _, service := range objects.services {
			if !selects(monitor.Spec.Selector.MatchLabels, service.Labels) {
				continue
			}
			matched = true
			for _, endpoint := range monitor.Spec.Endpoints {
				if !services[service.Name][endpoint.Port] {
					problems = append(problems, fmt.Sprintf("ServiceMonitor %s: Service %s has no port named %q", monitor.Name, service.Name, endpoint.Port))
				}
			}
		}
		if !matched {
			problems = append(problems, fmt.Sprintf("ServiceMonitor %s: selector matches no Service", monitor.Name))
		}
	}
	for _, ingress := range objects.ingresses {
		for _, rule := range ingress.Spec.Rules {
			if rule.HTTP == nil {
				continue
			}
			for _, path := range rule.HTTP.Paths {
				backend := path.Backend.Service
				if backend == nil {
					continue
				}
				ports, ok := services[backend.Name]
				if !ok {
					problems = append(problems, fmt.Sprintf("Ingress %s: backend Service %q is not rendered", ingress.Name, backend.Name))
				} else if backend.Port.Name != "" && !ports[backend.Port.Name] {
					problems = append(problems, fmt.Sprintf("Ingress %s: Service %s has no port named %q", ingress.Name, backend.Name, backend.Port.Name))
				}
			}
		}
	}
	return problems
}

// checkClaims holds a Deployment that mounts a PersistentVolumeClaim (the
// embedded store's snapshots) to one pod at a time: one replica, no HPA, and
// the Recreate strategy, so two pods never write one history or wait for one
// ReadWriteOnce volume. Every rendered claim must be mounted.
func checkClaims(objects *rendered) []string {
	var problems []string
	scaled := map[string]bool{}
	for _, hpa := range objects.hpas {
		scaled[hpa.Spec.ScaleTargetRef.Name] = true
	}
	mounted := map[string]bool{}
	for _, deployment := range objects.deployments {
		var claims []string
		for _, volume := range deployment.Spec.Template.Spec.Volumes {
			if volume.PersistentVolumeClaim != nil {
				claims = append(claims, volume.PersistentVolumeClaim.ClaimName)
				mounted[volume.PersistentVolumeClaim.ClaimName] = true
			}
		}
		if len(claims) == 0 {
			continue
		}
		where := fmt.Sprintf("Deployment %s (claims %v)", deployment.Name, claims)
		if deployment.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
			problems = append(problems, where+": rolls with "+string(deployment.Spec.Strategy.Type)+", so an old and a new pod would want the claim at once; use Recreate")
		}
		if deployment.Spec.Replicas != nil && *deployment.Spec.Replicas > 1 {
			problems = append(problems, fmt.Sprintf("%s: %d replicas on one claim", where, *deployment.Spec.Replicas))
		}
		if scaled[deployment.Name] {
			problems = append(problems, where+": scaled by an HPA, so several pods would share one claim")
		}
	}
	for _, claim := range objects.claims {
		if !mounted[claim.Name] {
			problems = append(problems, fmt.Sprintf("PersistentVolumeClaim %s: mounted by no Deployment", claim.Name))
		}
	}
	return problems
}

func checkPod(deployment *appsv1.Deployment, objects *rendered, containerPorts map[string]bool) []string {
	var problems []string
	where := "Deployment " + deployment.Name
	spec := deployment.Spec.Template.Spec
	if deployment.Spec.Selector == nil || !selects(deployment.Spec.Selector.MatchLabels, deployment.Spec.Template.Labels) {
		problems = append(problems, where+": selector does not match the pod template's labels")
	}
	volumes := map[string]bool{}
	for _, volume := range spec.Volumes {
		volumes[volume.Name] = true
		if volume.ConfigMap != nil && !objects.configMaps[volume.ConfigMap.Name] {
			problems = append(problems, fmt.Sprintf("%s: volume %s uses ConfigMap %q, which is not rendered", where, volume.Name, volume.ConfigMap.Name))
		}
	}
	for _, container := range spec.Containers {
		ports := map[string]bool{}
		for _, port := range container.Ports {
			if port.Name == "" {
				continue
			}
			if !portName.MatchString(port.Name) {
				problems = append(problems, fmt.Sprintf("%s: container %s: port name %q is not a valid IANA service name (max 15 lower-case characters)", where, container.Name, port.Name))
			}
			ports[port.Name] = true
			containerPorts[port.Name] = true
		}
		for kind, probe := range map[string]*corev1.Probe{"readiness": container.ReadinessProbe, "liveness": container.LivenessProbe, "startup": container.StartupProbe} {
			if probe == nil {
				continue
			}
			var port intstr.IntOrString
			switch {
			case probe.HTTPGet != nil:
				port = probe.HTTPGet.Port
			case probe.TCPSocket != nil:
				port = probe.TCPSocket.Port
			default:
				continue
			}
			if port.Type == intstr.String && !ports[port.StrVal] {
				problems = append(problems, fmt.Sprintf("%s: container %s: %s probe uses port %q, which the container does not declare", where, container.Name, kind, port.StrVal))
			}
		}
		for _, mount := range container.VolumeMounts {
			if !volumes[mount.Name] {
				problems = append(problems, fmt.Sprintf("%s: container %s mounts undefined volume %q", where, container.Name, mount.Name))
			}
		}
	}
	return problems
}

func hasContainer(deployment *appsv1.Deployment, name string) bool {
	for _, container := range deployment.Spec.Template.Spec.Containers {
		if container.Name == name {
			return true
		}
	}
	return false
}

// selects reports whether a non-empty selector matches the labels.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for key, value := range selector {
		if labels[key] != value {
			return false
		}
	}
	return true
}

// checkCertificates holds each Certificate to the Secret the pods mount, its
// renewal inside its lifetime, and a client auth usage (the readiness probe and
// Envoy present it under mutual TLS).
func checkCertificates(objects *rendered) []string {
	var problems []string
	mountedSecrets := map[string]bool{}
	for _, deployment := range objects.deployments {
		for _, volume := range deployment.Spec.Template.Spec.Volumes {
			if volume.Secret != nil {
				mountedSecrets[volume.Secret.SecretName] = true
			}
		}
	}
	for _, cert := range objects.certificates {
		where := "Certificate " + cert.Name
		if !mountedSecrets[cert.Spec.SecretName] {
			problems = append(problems, fmt.Sprintf("%s: writes Secret %q, which no pod mounts", where, cert.Spec.SecretName))
		}
		if len(cert.Spec.DNSNames) == 0 {
			problems = append(problems, where+": no dnsNames")
		}
		if cert.Spec.IssuerRef.Name == "" {
			problems = append(problems, where+": no issuerRef.name")
		}
		if cert.Spec.Duration != nil && cert.Spec.RenewBefore != nil && cert.Spec.RenewBefore.Duration >= cert.Spec.Duration.Duration {
			problems = append(problems, fmt.Sprintf("%s: renewBefore %s is not shorter than duration %s", where, cert.Spec.RenewBefore.Duration, cert.Spec.Duration.Duration))
		}
		usages := map[string]bool{}
		for _, usage := range cert.Spec.Usages {
			usages[usage] = true
		}
		if len(usages) > 0 && (!usages["server auth"] || !usages["client auth"]) {
			problems = append(problems, where+": usages need server auth and client auth")
		}
	}
	return problems
}

// checkNetworkPolicies holds each NetworkPolicy to the pods it means: its
// selector matches the pod template, and every named port exists in a container.
func checkNetworkPolicies(objects *rendered, podLabels map[string]string, containerPorts map[string]bool) []string {
	var problems []string
	for _, policy := range objects.networkPolicies {
		where := "NetworkPolicy " + policy.Name
		if !selects(policy.Spec.PodSelector.MatchLabels, podLabels) {
			problems = append(problems, where+": podSelector matches no pod template")
		}
		var ports []networkingv1.NetworkPolicyPort
		for _, rule := range policy.Spec.Ingress {
			if len(rule.From) == 0 {
				problems = append(problems, where+": an ingress rule without from admits every peer")
			}
			ports = append(ports, rule.Ports...)
		}
		for _, rule := range policy.Spec.Egress {
			if len(rule.To) == 0 {
				problems = append(problems, where+": an egress rule without to reaches every peer")
			}
		}
		for _, port := range ports {
			if port.Port != nil && port.Port.Type == intstr.String && !containerPorts[port.Port.StrVal] {
				problems = append(problems, fmt.Sprintf("%s: port %q is declared by no container", where, port.Port.StrVal))
			}
		}
	}
	return problems
}
