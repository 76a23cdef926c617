// Command wharf is an FTP/FTPS server, its admin tool and an FTP client.
package main

import (
	"os"

	"github.com/wharfftp/wharf/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], &cli.Env{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv,
	}))
}
