// Command parley is the Parley node and its client tools in one binary:
// `parley serve` runs a node, every other subcommand acts as a device or as
// the operator. The subcommands only parse flags and call packages; no
// logic lives here.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one subcommand. run gets the arguments after the subcommand
// name and returns an error to print; errUsage prints the usage line.
type command struct {
	summary string
	run     func(ctx context.Context, g *globalFlags, args []string) error
}

var errUsage = errors.New("usage")

func commands() map[string]command {
	return map[string]command{
		"serve":    {"run a node", runServe},
		"admin":    {"operate a node: invites, accounts, stats", runAdmin},
		"register": {"create an account for this device: parley register HANDLE", runRegister},
		"send":     {"send a message: parley send USER TEXT", runSend},
		"recv":     {"receive messages and receipts", runRecv},
		"chat":     {"interactive chat: parley chat USER", runChat},
		"history":  {"show a conversation: parley history USER", runHistory},
		"safety":   {"show the safety number with USER", runSafety},
		"whoami":   {"show this device's account and keys", runWhoami},
		"group":    {"group chats: parley group create NAME --members bob,carol (cli_group.go)", runGroup},
		"device":   {"linked devices: parley device link|approve|list|remove", runDevice},
		"info":     {"ticks of one of your messages, per member in groups: parley info MSGID", runInfo},
		"privacy":  {"who sees your last seen: parley privacy last-seen everyone|contacts|nobody", runPrivacy},
		"bench":    {"load generator: conns|msgs|offline|storm|group", runBench},
	}
}

func usage() {
	fmt.Fprintf(os.Stderr, "usage: parley [--home DIR] [--server HOST:PORT] COMMAND [ARGS]\n\ncommands:\n")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-9s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintf(os.Stderr, "\nRun 'parley COMMAND -h' for a command's flags.\n")
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	global := flag.NewFlagSet("parley", flag.ContinueOnError)
	global.Usage = usage
	var g globalFlags
	global.StringVar(&g.home, "home", envOr("PARLEY_HOME", defaultHome()), "device directory: keys, sessions, history (env PARLEY_HOME)")
	global.StringVar(&g.server, "server", envOr("PARLEY_SERVER", "127.0.0.1:5222"), "node address HOST:PORT (env PARLEY_SERVER)")
	if err := global.Parse(args); err != nil {
		return 2
	}
	rest := global.Args()
	if len(rest) == 0 {
		usage()
		return 2
	}
	cmd, ok := commands()[rest[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "parley: unknown command %q\n", rest[0])
		usage()
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd.run(ctx, &g, rest[1:]); err != nil {
		if errors.Is(err, errUsage) || errors.Is(err, flag.ErrHelp) {
			return 2
		}
		fmt.Fprintf(os.Stderr, "parley %s: %v\n", rest[0], err)
		return 1
	}
	return 0
}

// globalFlags holds the flags every client subcommand shares.
type globalFlags struct {
	home   string // --home, PARLEY_HOME
	server string // --server, PARLEY_SERVER
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func defaultHome() string {
	h, err := os.UserHomeDir()
	if err != nil {
		return ".parley"
	}
	return h + "/.parley"
}
