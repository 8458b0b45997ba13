package prober

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
)

// grpcProbe asks the gRPC Health Checking Protocol's Check for a.Service
// on the pod's address, without TLS, as upstream does: SERVING is a
// success; any other answer, an unimplemented health service, a failed
// connection or the timeout is a failure with upstream's messages.
func grpcProbe(ctx context.Context, t target, a *corev1.GRPCAction) (outcome, error) {
	addr := net.JoinHostPort(hostOr("", t.net.IP), strconv.Itoa(int(a.Port)))
	conn, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUserAgent("kube-probe/"+userAgentVersion),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return t.net.Dialer.DialContext(ctx, "tcp", addr)
		}),
	)
	if err != nil {
		return outcome{}, fmt.Errorf("grpc client for %s: %w", addr, err)
	}
	defer conn.Close()
	ctx = metadata.NewOutgoingContext(ctx, metadata.Pairs("user-agent", "kube-probe/"+userAgentVersion))
	service := ""
	if a.Service != nil {
		service = *a.Service
	}
	res, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service}, grpc.WaitForReady(false))
	if err != nil {
		switch st, _ := status.FromError(err); {
		case st.Code() == codes.Unimplemented:
			return outcome{status: Failure, msg: fmt.Sprintf("this server does not implement the grpc health protocol (grpc.health.v1.Health): %s", st.Message())}, nil
		case st.Code() == codes.DeadlineExceeded || errors.Is(err, context.DeadlineExceeded):
			return outcome{status: Failure, msg: "timeout: health rpc did not complete within the probe's timeout"}, nil
		default:
			return outcome{status: Failure, msg: fmt.Sprintf("error: health rpc probe failed: %v", err)}, nil
		}
	}
	if res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return outcome{status: Failure, msg: fmt.Sprintf("service unhealthy (responded with %q)", res.GetStatus().String())}, nil
	}
	return outcome{status: Success}, nil
}
