package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftkv/raftkv/internal/devcerts"
	"github.com/raftkv/raftkv/internal/suggest"
	"github.com/raftkv/raftkv/kvservice/api"
	"github.com/raftkv/raftkv/kvservice/client"
)

type globals struct {
	endpoints string
	output    string
	timeout   time.Duration
	token     string
	caFile    string
	certFile  string
	keyFile   string
}

func main() {
	root := newRoot(os.Stdout)
	err := root.Execute()
	var u *unsuccessful
	switch {
	case err == nil:
	case errors.As(err, &u):
		// Answered, but not done (missing key, failed cas): exit 2 so
		// scripts can tell it from an error.
		if u.msg != "" {
			fmt.Fprintln(os.Stderr, u.msg)
		}
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

// unsuccessful is an operation the cluster answered without doing it.
type unsuccessful struct{ msg string }

func (u *unsuccessful) Error() string { return u.msg }

func newRoot(stdout io.Writer) *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "raftkvctl",
		Short:         "Client and admin tool for a raftkv cluster",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetFlagErrorFunc(suggest.FlagError)
	pf := root.PersistentFlags()
	pf.StringVar(&g.endpoints, "endpoints", envOr("RAFTKV_ENDPOINTS", "localhost:8000,localhost:8001,localhost:8002"), "comma-separated API endpoints (env RAFTKV_ENDPOINTS)")
	pf.StringVarP(&g.output, "output", "o", "simple", "output format: simple or json")
	pf.DurationVar(&g.timeout, "timeout", 10*time.Second, "timeout of each request")

	pf.StringVar(&g.token, "token", os.Getenv("RAFTKV_TOKEN"), "bearer token sent to the API (env RAFTKV_TOKEN)")
	pf.StringVar(&g.caFile, "cacert", os.Getenv("RAFTKV_CACERT"), "PEM CA of the API's certificate: speak HTTPS (env RAFTKV_CACERT)")
	pf.StringVar(&g.certFile, "cert", os.Getenv("RAFTKV_CERT"), "PEM client certificate, for APIs started with --client-ca (env RAFTKV_CERT)")
	pf.StringVar(&g.keyFile, "key", os.Getenv("RAFTKV_KEY"), "PEM key of --cert (env RAFTKV_KEY)")

	root.AddCommand(certsCmd(), putCmd(g), getCmd(g), delCmd(g), casCmd(g), statusCmd(g), membersCmd(g), leaderCmd(g), benchCmd(g))
	return root
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func (g *globals) client() (*client.Client, error) {
	if g.output != "simple" && g.output != "json" {
		return nil, fmt.Errorf("-o %q: want simple or json", g.output)
	}
	c, err := client.New(strings.Split(g.endpoints, ","), g.timeout)
	if err != nil {
		return nil, err
	}
	cfg, err := g.tlsConfig()
	if err != nil {
		return nil, err
	}
	if cfg != nil {
		c.UseTLS(cfg)
	}
	c.UseToken(g.token)
	return c, nil
}

// tlsConfig is the client TLS config the flags ask for, nil for plain HTTP.
func (g *globals) tlsConfig() (*tls.Config, error) {
	if g.caFile == "" && g.certFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	var err error
	if g.caFile != "" {
		if cfg.RootCAs, err = devcerts.LoadPool(g.caFile); err != nil {
			return nil, fmt.Errorf("--cacert: %w", err)
		}
	}
	if g.certFile != "" {
		pair, err := tls.LoadX509KeyPair(g.certFile, g.keyFile)
		if err != nil {
			return nil, fmt.Errorf("--cert/--key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

func (g *globals) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), g.timeout+time.Second)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// run wraps a command body with a client and a context.
func (g *globals) run(fn func(ctx context.Context, c *client.Client, w io.Writer) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		c, err := g.client()
		if err != nil {
			return err
		}
		ctx, cancel := g.ctx()
		defer cancel()
		return fn(ctx, c, cmd.OutOrStdout())
	}
}

func putCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "put KEY VALUE", Short: "Set a key", Args: cobra.ExactArgs(2)}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return g.run(func(ctx context.Context, c *client.Client, w io.Writer) error {
			r, err := c.Put(ctx, args[0], args[1])
			if err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(w, r)
			}
			fmt.Fprintln(w, "OK")
			return nil
		})(cmd, args)
	}
	return cmd
}

func getCmd(g *globals) *cobra.Command {
	var mode string
	cmd := &cobra.Command{Use: "get KEY", Short: "Read a key", Args: cobra.ExactArgs(1)}
	cmd.Flags().StringVar(&mode, "read-mode", "", "linearizable, lease or stale (default: the node's)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return g.run(func(ctx context.Context, c *client.Client, w io.Writer) error {
			r, err := c.Get(ctx, args[0], api.ReadMode(mode))
			if err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(w, r)
			}
			if r.Found == nil || !*r.Found {
				return &unsuccessful{fmt.Sprintf("key %q not found", args[0])}
			}
			fmt.Fprintln(w, *r.Value)
			return nil
		})(cmd, args)
	}
	return cmd
}

func delCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "del KEY", Aliases: []string{"delete", "rm"}, Short: "Delete a key", Args: cobra.ExactArgs(1)}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return g.run(func(ctx context.Context, c *client.Client, w io.Writer) error {
			r, err := c.Delete(ctx, args[0])
			if err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(w, r)
			}
			if r.Found != nil && *r.Found {
				fmt.Fprintln(w, "1")
			} else {
				fmt.Fprintln(w, "0")
			}
			return nil
		})(cmd, args)
	}
	return cmd
}

func casCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "cas KEY EXPECTED NEW", Short: "Compare and swap", Args: cobra.ExactArgs(3)}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return g.run(func(ctx context.Context, c *client.Client, w io.Writer) error {
			r, err := c.CAS(ctx, args[0], args[1], args[2])
			if err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(w, r)
			}
			if r.Succeeded != nil && *r.Succeeded {
				fmt.Fprintln(w, "OK")
				return nil
			}
			cur := "<missing>"
			if r.Found != nil && *r.Found && r.Value != nil {
				cur = fmt.Sprintf("%q", *r.Value)
			}
			fmt.Fprintf(w, "FAILED (current value %s)\n", cur)
			return &unsuccessful{}
		})(cmd, args)
	}
	return cmd
}

func statusCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Status of every endpoint",
		Args:  cobra.NoArgs,
		RunE: g.run(func(ctx context.Context, c *client.Client, w io.Writer) error {
			var all []any
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			if g.output != "json" {
				fmt.Fprintln(tw, "ENDPOINT\tID\tROLE\tTERM\tLEADER\tCOMMIT\tAPPLIED\tKEYS\tSTATE HASH")
			}
			failed := 0
			for _, ep := range c.Endpoints() {
				st, err := c.Status(ctx, ep)
				if err != nil {
					failed++
					if g.output == "json" {
						all = append(all, map[string]string{"endpoint": ep, "error": err.Error()})
					} else {
						fmt.Fprintf(tw, "%s\t-\tunreachable: %v\n", ep, err)
					}
					continue
				}
				if g.output == "json" {
					all = append(all, map[string]any{"endpoint": ep, "status": st})
					continue
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%d\t%d\t%d\t%.16s\n", ep, st.ID, st.Role, st.Term, st.Leader, st.Commit, st.Applied, st.Keys, st.StateHash)
			}
			if g.output == "json" {
				if err := printJSON(w, all); err != nil {
					return err
				}
			} else {
				tw.Flush()
			}
			if failed == len(c.Endpoints()) {
				return errors.New("no endpoint answered")
			}
			return nil
		}),
	}
}

func printMembers(w io.Writer, g *globals, mr *api.MembersResponse) error {
	if g.output == "json" {
		return printJSON(w, mr)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tRAFT ID\tRAFT ADDR\tAPI ADDR\tVOTER")
	for _, m := range mr.Members {
		fmt.Fprintf(tw, "%s\t%x\t%s\t%s\t%v\n", m.ID, m.RaftID, m.RaftAddr, m.APIAddr, m.Voter)
	}
	return tw.Flush()
}

func membersCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "members", Short: "List, add and remove members"}
	list := &cobra.Command{Use: "list", Short: "List the members", Args: cobra.NoArgs,
		RunE: g.run(func(ctx context.Context, c *client.Client, w io.Writer) error {
			mr, err := c.Members(ctx)
			if err != nil {
				return err
			}
			return printMembers(w, g, mr)
		})}
	var req api.AddMemberRequest
	add := &cobra.Command{Use: "add NAME --raft-addr HOST:PORT --api-addr HOST:PORT", Short: "Update a member's addresses (a new member joins by itself: raftkv --join)",
		Long: "Updates the addresses of the current member NAME. A new member is not added from here: start it with an empty data\n" +
			"directory and --join; it picks a raft ID of its own (a removed member's ID is never reused) and asks the leader to\n" +
			"add it as a learner, promoted once caught up. A member whose data was wiped must be removed before it joins again.",
		Args: cobra.ExactArgs(1)}
	add.Flags().StringVar(&req.RaftAddr, "raft-addr", "", "the new member's raft address")
	add.Flags().StringVar(&req.APIAddr, "api-addr", "", "the new member's API address")
	add.Flags().BoolVar(&req.Learner, "learner", false, "keep it a non-voting learner")
	_ = add.MarkFlagRequired("raft-addr")
	_ = add.MarkFlagRequired("api-addr")
	add.RunE = func(cmd *cobra.Command, args []string) error {
		req.ID = args[0]
		return g.run(func(ctx context.Context, c *client.Client, w io.Writer) error {
			mr, err := c.AddMember(ctx, req)
			if err != nil {
				return err
			}
			return printMembers(w, g, mr)
		})(cmd, args)
	}
	remove := &cobra.Command{Use: "remove NAME", Aliases: []string{"rm"}, Short: "Remove a member", Args: cobra.ExactArgs(1)}
	remove.RunE = func(cmd *cobra.Command, args []string) error {
		return g.run(func(ctx context.Context, c *client.Client, w io.Writer) error {
			mr, err := c.RemoveMember(ctx, args[0])
			if err != nil {
				return err
			}
			return printMembers(w, g, mr)
		})(cmd, args)
	}
	cmd.AddCommand(list, add, remove)
	return cmd
}

func leaderCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "leader", Short: "Leadership"}
	transfer := &cobra.Command{Use: "transfer [NAME]", Short: "Transfer leadership (to the most up-to-date voter if NAME is omitted)", Args: cobra.MaximumNArgs(1)}
	transfer.RunE = func(cmd *cobra.Command, args []string) error {
		to := ""
		if len(args) == 1 {
			to = args[0]
		}
		return g.run(func(ctx context.Context, c *client.Client, w io.Writer) error {
			leader, err := c.TransferLeader(ctx, to)
			if err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(w, api.TransferResponse{Leader: leader})
			}
			fmt.Fprintf(w, "leader is now %s\n", leader)
			return nil
		})(cmd, args)
	}
	cmd.AddCommand(transfer)
	return cmd
}
