package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// Placeholder until the share command lands.
func newShareCmd(env *Env) *cobra.Command {
	return &cobra.Command{Use: "share", Short: "(not built yet)", RunE: func(*cobra.Command, []string) error {
		return errors.New("share: not built yet")
	}}
}
