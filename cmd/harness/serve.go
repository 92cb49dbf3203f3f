package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/spf13/cobra"

	"github.com/raftkv/raftkv/ui"
)

// newServe is `harness serve`: the runs browser over a store directory, the
// same pages a node started with --store serves.
func newServe(stdout io.Writer) *cobra.Command {
	var store, addr string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Browse the runs in a store (verdicts, histories, timelines, plots) over HTTP",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if fi, err := os.Stat(store); err != nil || !fi.IsDir() {
				return fmt.Errorf("store %q is not a directory (run a scenario first, or pass --store)", store)
			}
			gin.SetMode(gin.ReleaseMode)
			r := gin.New()
			ui.RegisterRuns(r, store)
			r.GET("/", func(c *gin.Context) { c.Redirect(http.StatusFound, "/runs/") })
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "serving the runs in %s at http://%s/runs/ (Ctrl-C stops)\n", store, ln.Addr())
			srv := &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
			go func() {
				<-cmd.Context().Done()
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				_ = srv.Shutdown(ctx)
			}()
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&store, "store", "store", "the store directory that harness run wrote")
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8080", "address to listen on")
	return cmd
}
