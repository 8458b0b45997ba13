package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newTranslateCmd() *cobra.Command {
	return &cobra.Command{
		Use: "translate",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("translate: not built yet")
		},
	}
}
