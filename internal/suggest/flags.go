package suggest

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// FlagError is a cobra FlagErrorFunc: an unknown flag's error gains the
// nearest flag the command accepts. Set it on the root command; cobra
// hands it to every subcommand.
func FlagError(cmd *cobra.Command, err error) error {
	msg := err.Error()
	name, ok := strings.CutPrefix(msg, "unknown flag: --")
	if !ok {
		return err
	}
	var known []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) { known = append(known, f.Name) })
	cmd.InheritedFlags().VisitAll(func(f *pflag.Flag) { known = append(known, f.Name) })
	hint := Hint(name, known)
	if hint == "" {
		return fmt.Errorf("%s (%s --help lists the flags)", msg, cmd.CommandPath())
	}
	return fmt.Errorf("%s%s", msg, hint)
}
