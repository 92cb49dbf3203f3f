package sim

import (
	"context"
	"fmt"

	"github.com/raftkv/raftkv/harness/cluster"
	"github.com/raftkv/raftkv/harness/nodeapi"
)

func init() {
	// Registered so that scenarios naming the backend validate; the
	// harness runs it with Run, not through cluster.New.
	cluster.Register(Name, func(o cluster.Options) (cluster.Cluster, error) {
		return nil, fmt.Errorf("%w: the %s backend runs in process (sim.Run), not as a cluster.Cluster", cluster.ErrUnsupported, Name)
	})
}

// simCluster is the cluster as nemesis.Applies sees it: only its node
// names. Nothing else is callable.
type simCluster struct{ names []string }

var _ cluster.Cluster = simCluster{}

func (c simCluster) Nodes() []string                       { return c.names }
func (c simCluster) Endpoints() []string                   { return nil }
func (c simCluster) Start(context.Context) error           { return cluster.ErrUnsupported }
func (c simCluster) Stop(context.Context) error            { return nil }
func (c simCluster) Kill(context.Context, string) error    { return cluster.ErrUnsupported }
func (c simCluster) Pause(context.Context, string) error   { return cluster.ErrUnsupported }
func (c simCluster) Resume(context.Context, string) error  { return cluster.ErrUnsupported }
func (c simCluster) Restart(context.Context, string) error { return cluster.ErrUnsupported }
func (c simCluster) Wipe(context.Context, string) error    { return cluster.ErrUnsupported }
func (c simCluster) Join(context.Context, string, string) error {
	return cluster.ErrUnsupported
}
func (c simCluster) Member(string) (nodeapi.Member, error) {
	return nodeapi.Member{}, cluster.ErrUnsupported
}
func (c simCluster) State(string) cluster.State    { return cluster.Running }
func (c simCluster) Client(string) *nodeapi.Client { return nil }
func (c simCluster) Logs(string) string            { return "" }
