package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// Placeholder until the serve command lands.
func newServeCmd(env *Env) *cobra.Command {
	return &cobra.Command{Use: "serve", Short: "(not built yet)", RunE: func(*cobra.Command, []string) error {
		return errors.New("serve: not built yet")
	}}
}
