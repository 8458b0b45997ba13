package network

import (
	"errors"
	"testing"
)

func TestPortConflict(t *testing.T) {
	web := holder{id: "uid-web", pod: "default/web", ports: []PortMapping{
		{HostPort: 8080, ContainerPort: 80, Protocol: "TCP"},
		{HostPort: 53, ContainerPort: 53, Protocol: "udp", HostIP: "10.0.0.1"},
	}}
	tests := []struct {
		name    string
		self    string
		want    []PortMapping
		holders []holder
		wantErr string // "" for no conflict
	}{
		{
			name:    "same port and protocol, all addresses",
			self:    "uid-new",
			want:    []PortMapping{{HostPort: 8080, ContainerPort: 8080, Protocol: "tcp"}},
			holders: []holder{web},
			wantErr: "host port conflict: host port 8080/tcp is already used by pod default/web",
		},
		{
			name:    "empty protocol is tcp",
			self:    "uid-new",
			want:    []PortMapping{{HostPort: 8080, ContainerPort: 1}},
			holders: []holder{web},
			wantErr: "host port conflict: host port 8080/tcp is already used by pod default/web",
		},
		{
			name:    "a specific address against all addresses",
			self:    "uid-new",
			want:    []PortMapping{{HostPort: 8080, ContainerPort: 1, HostIP: "192.0.2.1"}},
			holders: []holder{web},
			wantErr: "host port conflict: host port 192.0.2.1:8080/tcp is already used by pod default/web",
		},
		{
			name:    "0.0.0.0 against a specific address",
			self:    "uid-new",
			want:    []PortMapping{{HostPort: 53, ContainerPort: 53, Protocol: "UDP", HostIP: "0.0.0.0"}},
			holders: []holder{web},
			wantErr: "host port conflict: host port 0.0.0.0:53/udp is already used by pod default/web",
		},
		{
			name:    "other protocol",
			self:    "uid-new",
			want:    []PortMapping{{HostPort: 8080, ContainerPort: 80, Protocol: "udp"}},
			holders: []holder{web},
		},
		{
			name:    "other specific address",
			self:    "uid-new",
			want:    []PortMapping{{HostPort: 53, ContainerPort: 53, Protocol: "udp", HostIP: "10.0.0.2"}},
			holders: []holder{web},
		},
		{
			name:    "other port",
			self:    "uid-new",
			want:    []PortMapping{{HostPort: 8081, ContainerPort: 80}},
			holders: []holder{web},
		},
		{
			name:    "the pod's own earlier attachment",
			self:    "uid-web",
			want:    []PortMapping{{HostPort: 8080, ContainerPort: 80}},
			holders: []holder{web},
		},
		{
			name:    "no host port asked",
			self:    "uid-new",
			want:    []PortMapping{{HostPort: 0, ContainerPort: 8080}},
			holders: []holder{web},
		},
		{
			name: "first holder by ID is named",
			self: "uid-new",
			want: []PortMapping{{HostPort: 9000, ContainerPort: 1}},
			holders: []holder{
				{id: "uid-b", pod: "ns/b", ports: []PortMapping{{HostPort: 9000, Protocol: "tcp"}}},
				{id: "uid-a", pod: "ns/a", ports: []PortMapping{{HostPort: 9000, Protocol: "tcp"}}},
			},
			wantErr: "host port conflict: host port 9000/tcp is already used by pod ns/a",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := portConflict(tc.self, tc.want, tc.holders)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("portConflict = %v, want none", err)
				}
				return
			}
			if err == nil || err.Error() != tc.wantErr || !errors.Is(err, ErrHostPortConflict) {
				t.Fatalf("portConflict = %v, want %q wrapping ErrHostPortConflict", err, tc.wantErr)
			}
		})
	}
}
