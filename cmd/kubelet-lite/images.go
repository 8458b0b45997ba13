package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/spf13/cobra"

	"github.com/kubelet-lite/kubelet-lite/pkg/config"
	"github.com/kubelet-lite/kubelet-lite/pkg/image"
)

func newImagesCmd() *cobra.Command {
	cfg := config.Default()
	openStore := func() (*image.Store, error) {
		return image.NewStore(image.Config{Root: cfg.ImageDir()})
	}
	cmd := &cobra.Command{
		Use:   "images",
		Short: "Import, pull, list and remove the images in the node's image store",
	}
	cmd.PersistentFlags().StringVar(&cfg.RootDir, "root-dir", cfg.RootDir, "the agent's state directory (the store is <root-dir>/images)")
	cmd.AddCommand(
		newImagesImportCmd(openStore),
		newImagesListCmd(openStore),
		newImagesPullCmd(openStore),
		newImagesRemoveCmd(openStore),
	)
	return cmd
}

type storeOpener func() (*image.Store, error)

func newImagesImportCmd(open storeOpener) *cobra.Command {
	return &cobra.Command{
		Use:   "import FILE...",
		Short: "Import docker-save or OCI image-layout tarballs",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			s, err := open()
			if err != nil {
				return err
			}
			for _, f := range files {
				imgs, err := s.Import(cmd.Context(), f)
				if err != nil {
					return err
				}
				for _, img := range imgs {
					fmt.Fprintf(cmd.OutOrStdout(), "imported %s %s\n", img.Ref, shortID(img.ID))
				}
			}
			return nil
		},
	}
}

func newImagesListCmd(open storeOpener) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the images in the store",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := open()
			if err != nil {
				return err
			}
			imgs, err := s.List()
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "REF\tID\tSIZE")
			for _, img := range imgs {
				fmt.Fprintf(w, "%s\t%s\t%s\n", img.Ref, shortID(img.ID), humanSize(img.Size))
			}
			return w.Flush()
		},
	}
}

func newImagesPullCmd(open storeOpener) *cobra.Command {
	var username, password string
	cmd := &cobra.Command{
		Use:   "pull REF",
		Short: "Pull an image (linux/amd64) from its registry",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := open()
			if err != nil {
				return err
			}
			auth := authn.Anonymous
			if username != "" || password != "" {
				auth = &authn.Basic{Username: username, Password: password}
			}
			img, err := s.Pull(cmd.Context(), args[0], auth)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "pulled %s %s\n", img.Ref, shortID(img.ID))
			return nil
		},
	}
	cmd.Flags().StringVar(&username, "username", "", "registry user name (basic auth)")
	cmd.Flags().StringVar(&password, "password", "", "registry password (basic auth)")
	return cmd
}

func newImagesRemoveCmd(open storeOpener) *cobra.Command {
	return &cobra.Command{
		Use:     "rm REF...",
		Aliases: []string{"remove"},
		Short:   "Remove image references; layers no image uses any more are deleted",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, refs []string) error {
			s, err := open()
			if err != nil {
				return err
			}
			for _, ref := range refs {
				if err := s.Remove(ref); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

// shortID is the first 12 hex digits of a "sha256:..." digest.
func shortID(id string) string {
	const prefix = "sha256:"
	if len(id) >= len(prefix)+12 && id[:len(prefix)] == prefix {
		return id[len(prefix) : len(prefix)+12]
	}
	return id
}

// humanSize formats bytes like "1.2MB".
func humanSize(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	f, i := float64(n), 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%dB", n)
	}
	return fmt.Sprintf("%.1f%s", f, units[i])
}
