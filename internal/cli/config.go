package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// applyLayers fills every flag the user did not set on the command line from,
// in order, a WHARF_* environment variable and the TOML config file. The
// flag set is the one source of truth: a setting exists in all three places
// under the same name (--passive-ports, WHARF_PASSIVE_PORTS, passive-ports),
// so `wharf serve --help` documents them all.
func applyLayers(cmd *cobra.Command, env *Env, configFile string, mustExist bool) error {
	fileVals := map[string]any{}
	if configFile != "" {
		data, err := os.ReadFile(configFile)
		switch {
		case err == nil:
			if _, err := toml.Decode(string(data), &fileVals); err != nil {
				return usageError(fmt.Errorf("config %s: %w", configFile, err))
			}
		case os.IsNotExist(err) && !mustExist:
		default:
			return usageError(fmt.Errorf("config: %w", err))
		}
	}
	flags := cmd.Flags()
	known := map[string]bool{}
	var firstErr error
	flags.VisitAll(func(f *pflag.Flag) {
		known[f.Name] = true
		if f.Changed || firstErr != nil || f.Name == "help" || f.Name == "config" {
			return
		}
		envName := "WHARF_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := env.Getenv(envName); v != "" {
			if err := flags.Set(f.Name, v); err != nil {
				firstErr = usageError(fmt.Errorf("%s=%q: %w", envName, v, err))
			}
			return
		}
		if v, ok := fileVals[f.Name]; ok {
			if err := flags.Set(f.Name, tomlString(v)); err != nil {
				firstErr = usageError(fmt.Errorf("config %s: %s: %w", configFile, f.Name, err))
			}
		}
	})
	if firstErr != nil {
		return firstErr
	}
	for k := range fileVals {
		if !known[k] {
			return usageError(fmt.Errorf("config %s: unknown setting %q", configFile, k))
		}
	}
	return nil
}

// tomlString renders a TOML value the way its flag would be written.
func tomlString(v any) string {
	switch x := v.(type) {
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, ",")
	default:
		return fmt.Sprint(x)
	}
}
