package server

import (
	"fmt"
	"net/url"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// parseLogOptions reads the query of a /containerLogs request into the
// PodLogOptions the apiserver encoded there, and checks them as the
// apiserver's validation does.
func parseLogOptions(q url.Values) (corev1.PodLogOptions, error) {
	var opts corev1.PodLogOptions
	var err error
	for _, b := range []struct {
		name string
		dst  *bool
	}{{"follow", &opts.Follow}, {"previous", &opts.Previous}, {"timestamps", &opts.Timestamps}} {
		if v := q.Get(b.name); v != "" {
			if *b.dst, err = strconv.ParseBool(v); err != nil {
				return opts, fmt.Errorf("%s: %w", b.name, err)
			}
		}
	}
	for _, i := range []struct {
		name string
		dst  **int64
		min  int64
	}{{"tailLines", &opts.TailLines, 0}, {"limitBytes", &opts.LimitBytes, 1}, {"sinceSeconds", &opts.SinceSeconds, 1}} {
		v := q.Get(i.name)
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return opts, fmt.Errorf("%s: %w", i.name, err)
		}
		if n < i.min {
			return opts, fmt.Errorf("%s: must be at least %d", i.name, i.min)
		}
		*i.dst = &n
	}
	if v := q.Get("sinceTime"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return opts, fmt.Errorf("sinceTime: %w", err)
		}
		opts.SinceTime = &metav1.Time{Time: t}
	}
	if opts.SinceSeconds != nil && opts.SinceTime != nil {
		return opts, fmt.Errorf("at most one of sinceTime or sinceSeconds may be specified")
	}
	return opts, nil
}

// readOptions is what reading a log needs from PodLogOptions.
type readOptions struct {
	follow     bool
	timestamps bool
	tail       int64 // lines from the end; -1 for all
	limit      int64 // bytes written at most; -1 for no limit
	since      time.Time
}

func newReadOptions(o corev1.PodLogOptions, now time.Time) readOptions {
	r := readOptions{follow: o.Follow, timestamps: o.Timestamps, tail: -1, limit: -1}
	if o.TailLines != nil {
		r.tail = *o.TailLines
	}
	if o.LimitBytes != nil {
		r.limit = *o.LimitBytes
	}
	switch {
	case o.SinceSeconds != nil:
		r.since = now.Add(-time.Duration(*o.SinceSeconds) * time.Second)
	case o.SinceTime != nil:
		r.since = o.SinceTime.Time
	}
	return r
}
