// Package deploy holds what runs crosswatch as a service (systemd units, the Compose file, the
// Grafana dashboard) and the tests that keep them true to the binaries: the Dockerfiles' paths,
// users, ports, volume and HEALTHCHECK against the binaries' defaults, the units against
// systemd-analyze verify, and every metric the dashboard names against the real registry.
package deploy
