package cluster

import (
	"maps"
	"testing"
)

func TestParseEnv(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]string
	}{
		{"up.sh env", "NODE=n1\nAPI_SERVER=https://127.0.0.1:41234\n", map[string]string{"NODE": "n1", "API_SERVER": "https://127.0.0.1:41234"}},
		{"comments and junk", "# c=1\n\njunk\n=x\nA=b=c\n", map[string]string{"A": "b=c"}},
		{"empty value", "AGENT=\n", map[string]string{"AGENT": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseEnv([]byte(tt.in)); !maps.Equal(got, tt.want) {
				t.Errorf("parseEnv(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestTail(t *testing.T) {
	tests := []struct {
		name string
		in   string
		n    int
		want string
	}{
		{"fewer lines", "a\nb\n", 5, "a\nb"},
		{"more lines", "a\nb\nc\nd\n", 2, "c\nd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tail([]byte(tt.in), tt.n); got != tt.want {
				t.Errorf("tail = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		name         string
		in           string
		state, start string
		ok           bool
	}{
		{"running", "4242 (kube-apiserver) S 1 4242 4242 0 -1 4194560 1 0 0 0 10 2 0 0 20 0 12 0 987654 1000 100", "S", "987654", true},
		{"comm with parens and spaces", "7 (a) b (c)) Z 1 7 7 0 -1 4194560 1 0 0 0 10 2 0 0 20 0 1 0 55 0 0", "Z", "55", true},
		{"truncated", "7 (x) S 1 2 3", "", "", false},
		{"no comm", "garbage", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state, start, ok := parseStat(tt.in)
			if state != tt.state || start != tt.start || ok != tt.ok {
				t.Errorf("parseStat = %q, %q, %v; want %q, %q, %v", state, start, ok, tt.state, tt.start, tt.ok)
			}
		})
	}
}
