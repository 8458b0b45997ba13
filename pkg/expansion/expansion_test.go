package expansion

import "testing"

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "1", "B": "two", "POD": "web", "NS": "prod"}
	cases := []struct{ name, in, want string }{
		{"plain", "echo", "echo"},
		{"defined", "$(A)", "1"},
		{"inside text", "x$(B)y", "xtwoy"},
		{"path", "$(NS)/$(POD)", "prod/web"},
		{"undefined kept", "$(C)", "$(C)"},
		{"undefined in a path", "$(MISSING)/x", "$(MISSING)/x"},
		{"escaped", "$$(A)", "$(A)"},
		{"lone dollar", "cost $5", "cost $5"},
		{"trailing dollar", "a$", "a$"},
		{"unterminated", "$(A", "$(A"},
		{"unterminated after text", "a$(POD", "a$(POD"},
		{"two refs", "$(A)$(B)", "1two"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Expand(tc.in, vars); got != tc.want {
				t.Errorf("Expand(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
