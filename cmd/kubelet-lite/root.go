package main

import "github.com/spf13/cobra"

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "kubelet-lite",
		Short:         "A Kubernetes node agent on namespaces, cgroups and overlayfs",
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	root.AddCommand(newRunCmd(), newTranslateCmd(), newImagesCmd(), newPsCmd(), newVersionCmd())
	return root
}
