package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/raftkv/raftkv/internal/devcerts"
)

// certsCmd makes a development CA, node certificates and a token file.
func certsCmd() *cobra.Command {
	var dir, hosts string
	var clients []string
	var tokens bool
	cmd := &cobra.Command{
		Use:   "certs NODE...",
		Short: "Make a development CA, a certificate per node (and client), and a token file",
		Long: `certs writes into --dir: ca.pem and ca-key.pem (a new CA, unless they
exist: then it signs with that one), and NODE.pem/NODE-key.pem for each
node: usable as TLS server and client, naming the node (CN and DNS SAN,
which the peer handshake checks) plus localhost, 127.0.0.1, ::1 and --hosts.
--client NAME adds client-only certificates. --tokens writes tokens.txt
(one random token per role, the --token-file format), tokens.env and
node-token.txt (the admin token alone, for raftkv --node-token-file).
For development and tests: keys are unencrypted.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			caCert, caKey := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
			ca, err := devcerts.LoadCA(caCert, caKey)
			newCA := false
			if os.IsNotExist(err) {
				if ca, err = devcerts.NewCA("raftkv development CA"); err != nil {
					return err
				}
				newCA = true
			} else if err != nil {
				return err
			}
			var extra []string
			for h := range strings.SplitSeq(hosts, ",") {
				if h = strings.TrimSpace(h); h != "" {
					extra = append(extra, h)
				}
			}
			pairs := map[string]devcerts.Pair{}
			for _, n := range args {
				if pairs[n], err = ca.Node(n, extra...); err != nil {
					return fmt.Errorf("%s: %w", n, err)
				}
			}
			for _, n := range clients {
				if pairs[n], err = ca.Client(n); err != nil {
					return fmt.Errorf("%s: %w", n, err)
				}
			}
			if err := devcerts.WriteFiles(dir, ca, newCA, pairs); err != nil {
				return err
			}
			if tokens {
				if err := writeTokens(dir); err != nil {
					return err
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d certificate(s) to %s (new CA: %v)\n", len(pairs), dir, newCA)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "certs", "output directory")
	cmd.Flags().StringVar(&hosts, "hosts", "", "extra SANs for node certificates, comma-separated (DNS names or IPs)")
	cmd.Flags().StringSliceVar(&clients, "client", nil, "also make a client-only certificate with this name (repeatable)")
	cmd.Flags().BoolVar(&tokens, "tokens", false, "also write tokens.txt (for --token-file), tokens.env and node-token.txt (for --node-token-file)")
	return cmd
}

func writeTokens(dir string) error {
	t, err := devcerts.NewTokens()
	if err != nil {
		return err
	}
	return devcerts.WriteTokens(dir, t)
}
