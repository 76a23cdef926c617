package cli

import "github.com/spf13/cobra"

// Placeholder until the client commands land.
func newClientCmds(env *Env) []*cobra.Command { return nil }
