package cli

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/wharfftp/wharf/internal/accounts"
)

// newAdminCmd builds `wharf admin`: the accounts of the web admin and its
// API (serve --admin-listen), kept in the same store as the FTP users but
// apart from them.
func newAdminCmd(env *Env) *cobra.Command {
	var data, dbURL string
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Manage the accounts of the web admin and its API",
		Long: "Manage the accounts that sign in to 'wharf serve --admin-listen': the web\n" +
			"admin (password) and the JSON API (password session or bearer token).\n" +
			"Admins are not FTP users; they live in the same database.",
	}
	cmd.PersistentFlags().StringVar(&data, "data", "", "data directory (default $WHARF_DATA or ./wharf-data)")
	cmd.PersistentFlags().StringVar(&dbURL, "db", "", "database: sqlite:PATH or a postgres:// URL (default $WHARF_DB, the db key of DATA/wharf.toml, or DATA/wharf.db)")
	open := func(ctx context.Context, create bool) (*accounts.DB, error) {
		dir := data
		if dir == "" {
			dir = userDataDir(env)
		}
		u, err := userDB(env, dbURL, dir)
		if err != nil {
			return nil, err
		}
		db, err := accounts.Open(ctx, dir, accounts.Options{DB: u, MustExist: !create})
		return db, userError(err)
	}
	cmd.AddCommand(
		newAdminAddCmd(env, open),
		newAdminPasswdCmd(env, open),
		newAdminTokenCmd(env, open),
		newAdminListCmd(env, open),
		newAdminDelCmd(env, open),
	)
	return cmd
}

// adminPassword reads an admin's new password: --password-stdin, else
// WHARF_PASSWORD (for scripts and containers), else asked twice at the
// terminal.
func adminPassword(env *Env, fromStdin bool) (string, error) {
	if !fromStdin {
		if pw := env.Getenv("WHARF_PASSWORD"); pw != "" {
			return pw, nil
		}
	}
	return userReadPassword(env, fromStdin)
}

// openAdmin opens the store and checks that admin name exists.
func openAdmin(ctx context.Context, open userOpenDB, name string) (*accounts.DB, error) {
	if err := userCheckName(name); err != nil {
		return nil, err
	}
	db, err := open(ctx, false)
	if err != nil {
		return nil, err
	}
	ok, err := db.AdminExists(ctx, name)
	if err == nil && !ok {
		err = withCode(ExitNotFound, fmt.Errorf("admin %s: %w", name, accounts.ErrNoAdmin))
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func newAdminAddCmd(env *Env, open userOpenDB) *cobra.Command {
	var stdinPw bool
	cmd := &cobra.Command{
		Use:   "add NAME",
		Short: "Create an admin account (password from a prompt, --password-stdin or WHARF_PASSWORD)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, name := cmd.Context(), args[0]
			if err := userCheckName(name); err != nil {
				return err
			}
			// Refuse a duplicate before anyone types a password for it.
			db, err := open(ctx, false)
			if err != nil && !errors.Is(err, accounts.ErrNoDataDir) {
				return err
			}
			if db != nil {
				defer db.Close()
				if ok, err := db.AdminExists(ctx, name); err != nil {
					return err
				} else if ok {
					return fmt.Errorf("admin %s: %w", name, accounts.ErrAdminExists)
				}
			}
			pw, err := adminPassword(env, stdinPw)
			if err != nil {
				return err
			}
			if db == nil {
				if db, err = open(ctx, true); err != nil {
					return err
				}
				defer db.Close()
			}
			if err := db.AddAdmin(ctx, name, pw); err != nil {
				return userError(err)
			}
			fmt.Fprintf(env.Stdout, "added admin %s\n", name)
			return nil
		},
	}
	cmd.Flags().BoolVar(&stdinPw, "password-stdin", false, "read the password from the first line of stdin")
	return cmd
}

func newAdminPasswdCmd(env *Env, open userOpenDB) *cobra.Command {
	var stdinPw bool
	cmd := &cobra.Command{
		Use:   "passwd NAME",
		Short: "Set an admin's password",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := openAdmin(cmd.Context(), open, args[0])
			if err != nil {
				return err
			}
			defer db.Close()
			pw, err := adminPassword(env, stdinPw)
			if err != nil {
				return err
			}
			if err := db.SetAdminPassword(cmd.Context(), args[0], pw); err != nil {
				return userError(err)
			}
			fmt.Fprintf(env.Stdout, "changed the password of admin %s\n", args[0])
			return nil
		},
	}
	cmd.Flags().BoolVar(&stdinPw, "password-stdin", false, "read the password from the first line of stdin")
	return cmd
}

func newAdminTokenCmd(env *Env, open userOpenDB) *cobra.Command {
	var revoke bool
	cmd := &cobra.Command{
		Use:   "token NAME",
		Short: "Print a new API bearer token for an admin (replacing the old one)",
		Long: "Print a new bearer token for the admin API (Authorization: Bearer TOKEN).\n" +
			"Only its hash is stored: it is shown this once. An admin has one token;\n" +
			"a new one replaces the old at once, and --revoke removes it.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := openAdmin(cmd.Context(), open, args[0])
			if err != nil {
				return err
			}
			defer db.Close()
			if revoke {
				if err := db.RevokeAdminToken(cmd.Context(), args[0]); err != nil {
					return userError(err)
				}
				fmt.Fprintf(env.Stdout, "revoked the token of admin %s\n", args[0])
				return nil
			}
			tok, err := db.NewAdminToken(cmd.Context(), args[0])
			if err != nil {
				return userError(err)
			}
			// The token alone on stdout, so TOKEN=$(wharf admin token NAME) works.
			fmt.Fprintln(env.Stdout, tok)
			return nil
		},
	}
	cmd.Flags().BoolVar(&revoke, "revoke", false, "remove the admin's token instead of making a new one")
	return cmd
}

func newAdminListCmd(env *Env, open userOpenDB) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the admin accounts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, err := open(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer db.Close()
			list, err := db.ListAdmins(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tTOKEN")
			for _, a := range list {
				tok := "no"
				if a.HasToken {
					tok = "yes"
				}
				fmt.Fprintf(tw, "%s\t%s\n", a.Name, tok)
			}
			return tw.Flush()
		},
	}
}

func newAdminDelCmd(env *Env, open userOpenDB) *cobra.Command {
	return &cobra.Command{
		Use:   "del NAME",
		Short: "Delete an admin account (its token and page sessions stop working)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := openAdmin(cmd.Context(), open, args[0])
			if err != nil {
				return err
			}
			defer db.Close()
			if err := db.DeleteAdmin(cmd.Context(), args[0]); err != nil {
				return userError(err)
			}
			fmt.Fprintf(env.Stdout, "deleted admin %s\n", args[0])
			return nil
		},
	}
}
