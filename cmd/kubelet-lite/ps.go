package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newPsCmd() *cobra.Command {
	return &cobra.Command{
		Use: "ps",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("ps: not built yet")
		},
	}
}
