// Package serviceenv computes the Docker-link style environment variables a
// container gets for Services (FOO_SERVICE_HOST, FOO_PORT_80_TCP_ADDR, …),
// by the rules of upstream's pkg/kubelet/envvars.
package serviceenv
