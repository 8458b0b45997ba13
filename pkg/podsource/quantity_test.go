package podsource

import (
	"strings"
	"testing"
	"time"
)

// TestDecodePodRejectsHugeExponents: a quantity with an exponent past what
// resource.ParseQuantity parses in bounded time is an error at once, while
// ordinary quantities, exponents included, and such strings outside
// quantity fields still decode.
func TestDecodePodRejectsHugeExponents(t *testing.T) {
	manifest := func(limit, env string) string {
		return `apiVersion: v1
kind: Pod
metadata: {name: q}
spec:
  containers:
  - name: app
    image: busybox
    env: [{name: X, value: "` + env + `"}]
    resources: {limits: {cpu: "` + limit + `", memory: 64Mi}}
  volumes:
  - name: d
    emptyDir: {sizeLimit: 1Gi}
`
	}
	tests := []struct {
		name, limit, env, wantErr string
	}{
		{name: "plain", limit: "500m", env: "1e2147483648"},
		{name: "exponent", limit: "5e-1", env: "x"},
		{name: "four digit exponent", limit: "1e-9999", env: "x"},
		{name: "large negative", limit: "1e-999999999", env: "x", wantErr: "exponent out of range"},
		{name: "past int32", limit: "1e2147483648", env: "x", wantErr: `spec.containers[0].resources.limits.cpu: quantity "1e2147483648": exponent out of range`},
		{name: "fuzzer's find", limit: "10000E1000000100000", env: "x", wantErr: "exponent out of range"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				_, err := DecodePod([]byte(manifest(tc.limit, tc.env)))
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("DecodePod did not return within 20s")
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("DecodePod: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("DecodePod error = %v, want %q", err, tc.wantErr)
			}
		})
	}
}
