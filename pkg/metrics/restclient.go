package metrics

import (
	"context"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientmetrics "k8s.io/client-go/tools/metrics"
)

// ClientGo is client-go's request metrics as upstream's components export
// them (k8s.io/component-base/metrics/prometheus/restclient): same names,
// labels and buckets, on a plain Prometheus registry. Register it, then hand
// RegisterOpts to client-go's metrics.Register, once per process.
type ClientGo struct {
	latency     *prometheus.HistogramVec
	rateLimiter *prometheus.HistogramVec
	results     *prometheus.CounterVec
	retries     *prometheus.CounterVec
	reqSize     *prometheus.HistogramVec
	respSize    *prometheus.HistogramVec
}

var _ prometheus.Collector = (*ClientGo)(nil)

var (
	requestLatencyBuckets = []float64{0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0}
	requestSizeBuckets    = []float64{64, 256, 512, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216}
)

// NewClientGo returns the request metrics, all at zero.
func NewClientGo() *ClientGo {
	verbHost := []string{"verb", "host"}
	return &ClientGo{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "rest_client_request_duration_seconds", Help: "Request latency in seconds. Broken down by verb, and host.",
			Buckets: requestLatencyBuckets,
		}, verbHost),
		rateLimiter: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "rest_client_rate_limiter_duration_seconds", Help: "Client side rate limiter latency in seconds. Broken down by verb, and host.",
			Buckets: requestLatencyBuckets,
		}, verbHost),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rest_client_requests_total", Help: "Number of HTTP requests, partitioned by status code, method, and host.",
		}, []string{"code", "method", "host"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rest_client_request_retries_total", Help: "Number of request retries, partitioned by status code, verb, and host.",
		}, []string{"code", "verb", "host"}),
		reqSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "rest_client_request_size_bytes", Help: "Request size in bytes. Broken down by verb and host.",
			Buckets: requestSizeBuckets,
		}, verbHost),
		respSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "rest_client_response_size_bytes", Help: "Response size in bytes. Broken down by verb and host.",
			Buckets: requestSizeBuckets,
		}, verbHost),
	}
}

func (c *ClientGo) collectors() []prometheus.Collector {
	return []prometheus.Collector{c.latency, c.rateLimiter, c.results, c.retries, c.reqSize, c.respSize}
}

// Describe implements prometheus.Collector.
func (c *ClientGo) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.collectors() {
		m.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (c *ClientGo) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.collectors() {
		m.Collect(ch)
	}
}

// RegisterOpts are the adapters client-go's metrics.Register takes.
func (c *ClientGo) RegisterOpts() clientmetrics.RegisterOpts {
	return clientmetrics.RegisterOpts{
		RequestLatency:     latencyAdapter{c.latency},
		RateLimiterLatency: latencyAdapter{c.rateLimiter},
		RequestResult:      resultAdapter{c.results},
		RequestRetry:       retryAdapter{c.retries},
		RequestSize:        sizeAdapter{c.reqSize},
		ResponseSize:       sizeAdapter{c.respSize},
	}
}

type latencyAdapter struct{ m *prometheus.HistogramVec }

func (a latencyAdapter) Observe(_ context.Context, verb string, u url.URL, latency time.Duration) {
	a.m.WithLabelValues(verb, u.Host).Observe(latency.Seconds())
}

type resultAdapter struct{ m *prometheus.CounterVec }

func (a resultAdapter) Increment(_ context.Context, code, method, host string) {
	a.m.WithLabelValues(code, method, host).Inc()
}

type retryAdapter struct{ m *prometheus.CounterVec }

func (a retryAdapter) IncrementRetry(_ context.Context, code, method, host string) {
	a.m.WithLabelValues(code, method, host).Inc()
}

type sizeAdapter struct{ m *prometheus.HistogramVec }

func (a sizeAdapter) Observe(_ context.Context, verb, host string, size float64) {
	a.m.WithLabelValues(verb, host).Observe(size)
}
