package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// runCompose loads each file the way `docker compose` does (compose-spec
// schema, interpolation, depends_on and volume references), then checks the
// stack's own rules: pinned images, loopback-only ports, existing build
// contexts and bind-mounted files, read-only hardened containers.
func runCompose(paths []string) error {
	if len(paths) == 0 {
		return errors.New("need at least one docker-compose.yml")
	}
	var findings findingsError
	for _, path := range paths {
		for _, problem := range checkComposeFile(path) {
			findings = append(findings, path+": "+problem)
		}
	}
	if len(findings) > 0 {
		return findings
	}
	return nil
}

func checkComposeFile(path string) []string {
	absolute, err := filepath.Abs(path)
	if err != nil {
		return []string{err.Error()}
	}
	// No environment and no .env: the defaults in the file must work alone.
	options, err := cli.NewProjectOptions([]string{absolute},
		cli.WithWorkingDirectory(filepath.Dir(absolute)),
		cli.WithEnv([]string{}),
		cli.WithInterpolation(true),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		return []string{err.Error()}
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		return []string{"not a valid compose file: " + err.Error()}
	}
	var problems []string
	for name, service := range project.Services {
		problems = append(problems, checkComposeService(name, service)...)
	}
	return problems
}

func checkComposeService(name string, service types.ServiceConfig) []string {
	var problems []string
	where := "service " + name
	if service.Build != nil {
		if info, err := os.Stat(service.Build.Context); err != nil || !info.IsDir() {
			problems = append(problems, fmt.Sprintf("%s: build context %s does not exist", where, service.Build.Context))
		} else if _, err := os.Stat(filepath.Join(service.Build.Context, service.Build.Dockerfile)); err != nil {
			problems = append(problems, fmt.Sprintf("%s: Dockerfile %s does not exist in %s", where, service.Build.Dockerfile, service.Build.Context))
		}
	} else {
		reference := service.Image
		tag := reference[strings.LastIndex(reference, "/")+1:]
		if !strings.Contains(tag, ":") && !strings.Contains(reference, "@sha256:") || strings.HasSuffix(reference, ":latest") {
			problems = append(problems, fmt.Sprintf("%s: image %q is not pinned to a version", where, reference))
		}
	}
	for _, port := range service.Ports {
		if port.Published != "" && port.HostIP != "127.0.0.1" {
			problems = append(problems, fmt.Sprintf("%s: port %s is published on all interfaces; bind it to 127.0.0.1", where, port.Published))
		}
	}
	for _, volume := range service.Volumes {
		if volume.Type != types.VolumeTypeBind {
			continue
		}
		if _, err := os.Stat(volume.Source); err != nil {
			problems = append(problems, fmt.Sprintf("%s: bind mount source %s does not exist", where, volume.Source))
		}
		if !volume.ReadOnly {
			problems = append(problems, fmt.Sprintf("%s: bind mount %s is writable; mount it :ro", where, volume.Target))
		}
	}
	hardened := len(service.CapDrop) == 1 && strings.EqualFold(service.CapDrop[0], "ALL")
	if !hardened {
		problems = append(problems, where+": must drop all capabilities (cap_drop: [ALL])")
	}
	if name != "lakefs" && (!service.ReadOnly || service.User == "" || strings.HasPrefix(service.User, "0")) {
		problems = append(problems, where+": must run read-only as a non-root user")
	}
	return problems
}
