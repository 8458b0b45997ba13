package main

import (
	"flag"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:          "kubelet-lite",
		Short:        "A Kubernetes node agent on namespaces, cgroups and overlayfs",
		SilenceUsage: true,
	}
	logFlags := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(logFlags)
	root.PersistentFlags().AddGoFlagSet(logFlags)
	root.AddCommand(newRunCmd(), newTranslateCmd(), newImagesCmd(), newPsCmd(), newVersionCmd())
	return root
}
