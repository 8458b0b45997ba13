package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
)

// The delegated authentication and authorization settings of the upstream
// kubelet's defaults (KubeletConfiguration v1beta1).
const (
	tokenCacheTTL       = 2 * time.Minute
	tokenReviewTimeout  = 10 * time.Second
	authorizedCacheTTL  = 5 * time.Minute
	forbiddenCacheTTL   = 30 * time.Second
	statsPath           = "/stats/"
	metricsPath         = "/metrics"
	logsPath            = "/logs/"
	checkpointPath      = "/checkpoint/"
	podsPath            = "/pods"
	runningPodsPath     = "/runningpods/"
	healthzPath         = "/healthz"
	configzPath         = "/configz"
	statuszPath         = "/statusz"
	containerLogsPrefix = "/containerLogs/"
)

// webhookBackoff is the retry backoff of the apiserver's delegated
// authentication and authorization webhooks
// (k8s.io/apiserver/pkg/server/options.DefaultAuthWebhookRetryBackoff).
func webhookBackoff() *wait.Backoff {
	return &wait.Backoff{Duration: 500 * time.Millisecond, Factor: 1.5, Jitter: 0.2, Steps: 5}
}

// delegatedAuthenticator builds the upstream kubelet's authenticator:
// x509 client certificates verified against caFile (reloaded when the file
// changes, once ca is run) and bearer tokens checked with a TokenReview,
// anonymous requests refused. Either part may be missing, not both.
func delegatedAuthenticator(client kubernetes.Interface, caFile string) (authenticator.Request, *dynamiccertificates.DynamicFileCAContent, error) {
	cfg := authenticatorfactory.DelegatingAuthenticatorConfig{
		CacheTTL:                 tokenCacheTTL,
		TokenAccessReviewTimeout: tokenReviewTimeout,
		WebhookRetryBackoff:      webhookBackoff(),
	}
	var ca *dynamiccertificates.DynamicFileCAContent
	if caFile != "" {
		var err error
		ca, err = dynamiccertificates.NewDynamicCAContentFromFile("client-ca-bundle", caFile)
		if err != nil {
			return nil, nil, fmt.Errorf("load client CA %s: %w", caFile, err)
		}
		cfg.ClientCertificateCAContentProvider = ca
	}
	if client != nil {
		cfg.TokenAccessReviewClient = client.AuthenticationV1()
	}
	authn, _, err := cfg.New()
	if err != nil {
		return nil, nil, fmt.Errorf("build authenticator: %w", err)
	}
	return authn, ca, nil
}

// delegatedAuthorizer builds the upstream kubelet's Webhook authorizer,
// which asks the apiserver with SubjectAccessReviews.
func delegatedAuthorizer(client kubernetes.Interface) (authorizer.Authorizer, error) {
	cfg := authorizerfactory.DelegatingAuthorizerConfig{
		SubjectAccessReviewClient: client.AuthorizationV1(),
		AllowCacheTTL:             authorizedCacheTTL,
		DenyCacheTTL:              forbiddenCacheTTL,
		WebhookRetryBackoff:       webhookBackoff(),
	}
	authz, err := cfg.New()
	if err != nil {
		return nil, fmt.Errorf("build authorizer: %w", err)
	}
	return authz, nil
}

func isSubpath(subpath, path string) bool {
	path = strings.TrimSuffix(path, "/")
	return subpath == path || (strings.HasPrefix(subpath, path) && subpath[len(path)] == '/')
}

// apiVerb maps an HTTP method to the API verb of its authorization check,
// as the kubelet does; other methods get no verb, which no rule allows.
func apiVerb(method string) string {
	switch method {
	case http.MethodPost:
		return "create"
	case http.MethodGet:
		return "get"
	case http.MethodPut:
		return "update"
	case http.MethodPatch:
		return "patch"
	case http.MethodDelete:
		return "delete"
	}
	return ""
}

// subresources returns the node subresources that may allow a request to
// path, the most specific first, as the kubelet with its (default-on)
// fine-grained authorization does: stats, metrics, log and checkpoint have
// their own; pods, healthz, configz and statusz fall back to proxy; every
// other path, /containerLogs, /exec and /run included, needs proxy.
func subresources(path string) []string {
	var subs []string
	switch {
	case isSubpath(path, podsPath), isSubpath(path, runningPodsPath):
		subs = append(subs, "pods")
	case isSubpath(path, healthzPath):
		subs = append(subs, "healthz")
	case isSubpath(path, configzPath):
		subs = append(subs, "configz")
	case isSubpath(path, statuszPath):
		subs = append(subs, "statusz")
	}
	switch {
	case isSubpath(path, statsPath):
		subs = append(subs, "stats")
	case isSubpath(path, metricsPath):
		subs = append(subs, "metrics")
	case isSubpath(path, logsPath):
		subs = append(subs, "log")
	case isSubpath(path, checkpointPath):
		subs = append(subs, "checkpoint")
	default:
		subs = append(subs, "proxy")
	}
	return subs
}

// RequestAttributes returns the authorization attributes of a request to
// the kubelet API of node nodeName by u: the node's subresources in the
// order they are tried. Any one allowing the request allows it.
func RequestAttributes(nodeName string, u user.Info, r *http.Request) []authorizer.Attributes {
	var attrs []authorizer.Attributes
	for _, sub := range subresources(r.URL.Path) {
		attrs = append(attrs, authorizer.AttributesRecord{
			User:            u,
			Verb:            apiVerb(r.Method),
			APIVersion:      "v1",
			Resource:        "nodes",
			Subresource:     sub,
			Name:            nodeName,
			ResourceRequest: true,
			Path:            r.URL.Path,
		})
	}
	return attrs
}

// withAuth authenticates and authorizes each request before next serves it:
// 401 for an unauthenticated caller, 403 when no subresource allows it,
// 500 when the authorizer fails, with the kubelet's messages.
func withAuth(nodeName string, authn authenticator.Request, authz authorizer.Authorizer, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		logger := klog.FromContext(r.Context())
		resp, ok, err := authn.AuthenticateRequest(r)
		if err != nil {
			// A bad credential is the caller's error, not the agent's.
			logger.V(2).Info("Unable to authenticate the request", "path", r.URL.Path, "err", err)
		}
		if err != nil || !ok {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		attrs := RequestAttributes(nodeName, resp.User, r)
		allowed, err := authorize(r.Context(), authz, attrs)
		if err != nil {
			msg := fmt.Sprintf("Authorization error (user=%s, verb=%s, resource=%s, subresource(s)=%v)",
				resp.User.GetName(), attrs[0].GetVerb(), attrs[0].GetResource(), subresourceNames(attrs))
			logger.Error(err, msg)
			http.Error(w, msg, http.StatusInternalServerError)
			return
		}
		if !allowed {
			msg := fmt.Sprintf("Forbidden (user=%s, verb=%s, resource=%s, subresource(s)=%v)",
				resp.User.GetName(), attrs[0].GetVerb(), attrs[0].GetResource(), subresourceNames(attrs))
			logger.V(2).Info(msg)
			http.Error(w, msg, http.StatusForbidden)
			return
		}
		// The caller's credentials stay here, as in the apiserver.
		r.Header.Del("Authorization")
		next.ServeHTTP(w, r)
	})
}

// authorize reports whether any of attrs is allowed. An error is returned
// only when none is allowed and one of the checks failed.
func authorize(ctx context.Context, authz authorizer.Authorizer, attrs []authorizer.Attributes) (bool, error) {
	var firstErr error
	for _, a := range attrs {
		decision, _, err := authz.Authorize(ctx, a)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		if decision == authorizer.DecisionAllow {
			return true, nil
		}
	}
	return false, firstErr
}

func subresourceNames(attrs []authorizer.Attributes) []string {
	names := make([]string, len(attrs))
	for i, a := range attrs {
		names[i] = a.GetSubresource()
	}
	return names
}
