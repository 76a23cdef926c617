package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// Placeholder until the user command lands.
func newUserCmd(env *Env) *cobra.Command {
	return &cobra.Command{Use: "user", Short: "(not built yet)", RunE: func(*cobra.Command, []string) error {
		return errors.New("user: not built yet")
	}}
}
