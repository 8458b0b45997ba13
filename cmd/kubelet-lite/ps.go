package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubelet-lite/kubelet-lite/pkg/config"
	"github.com/kubelet-lite/kubelet-lite/pkg/sandbox"
)

func newPsCmd() *cobra.Command {
	cfg := config.Default()
	var output string
	cmd := &cobra.Command{
		Use:   "ps",
		Short: "List the pods and containers on this node with their state, restarts, cgroup and pid",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return fmt.Errorf("--output %q: want table or json", output)
			}
			rt, err := sandbox.New(sandbox.Config{Root: cfg.SandboxDir(), CgroupRoot: cfg.CgroupRoot, ReadOnly: true})
			if err != nil {
				return err
			}
			pods, err := rt.ListPods()
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(pods)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "POD\tCONTAINER\tSTATE\tRESTARTS\tPID\tAGE\tCGROUP")
			for _, p := range pods {
				fmt.Fprintf(w, "%s/%s\t(sandbox)\t%s\t-\t%d\t-\t-\n", p.Namespace, p.Name, sandboxState(p.SandboxPID), p.SandboxPID)
				for _, c := range p.Containers {
					state := string(c.State)
					if c.State == sandbox.StateExited {
						state = fmt.Sprintf("%s(%d)", c.State, c.ExitCode)
						if c.Reason != "" {
							state += " " + c.Reason
						}
					}
					fmt.Fprintf(w, "%s/%s\t%s\t%s\t%d\t%d\t%s\t%s\n", p.Namespace, p.Name, c.Name, state, c.Attempt, c.PID, age(c.StartedAt), c.Cgroup)
				}
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	cmd.Flags().StringVar(&cfg.RootDir, "root-dir", cfg.RootDir, "the agent's state directory")
	return cmd
}

func sandboxState(pid int) string {
	if pid > 0 {
		return string(sandbox.StateRunning)
	}
	return string(sandbox.StateExited)
}

func age(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return time.Since(t).Round(time.Second).String()
}
