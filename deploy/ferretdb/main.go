// Command ferretdb is Waymark's local-development launcher for FerretDB 1.x
// (MongoDB wire protocol on top of PostgreSQL or SQLite). It embeds the upstream
// github.com/FerretDB/FerretDB/ferretdb package instead of using the upstream
// CLI, because `go install .../cmd/ferretdb` panics at start (missing
// build/version/version.txt, FerretDB issue #2982). See
// docs/runbooks/local-infra.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

const ferretModule = "github.com/FerretDB/FerretDB"

// moduleVersion returns the FerretDB module version this binary was built with.
func moduleVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == ferretModule {
				if dep.Replace != nil {
					return dep.Replace.Version
				}
				return dep.Version
			}
		}
	}
	return "unknown"
}

func main() {
	listenAddr := flag.String("listen-addr", "127.0.0.1:27017", "TCP address to listen on")
	handler := flag.String("handler", "postgresql", "storage backend: postgresql or sqlite")
	postgresqlURL := flag.String("postgresql-url", "postgres://ferretdb@127.0.0.1:55432/ferretdb",
		"PostgreSQL backend: connection URL (database must be UTF8 with the C locale)")
	sqliteDir := flag.String("sqlite-dir", "data", "SQLite backend: directory (created if missing; one file per database)")
	logLevel := flag.String("log-level", "warn", "log level: debug, info, warn or error")
	showVersion := flag.Bool("version", false, "print the FerretDB module version and exit")
	flag.Parse()

	if *showVersion {
		fmt.Println(moduleVersion())
		return
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "invalid --log-level %q: %v\n", *logLevel, err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	// ferretdb.New disables telemetry itself; the embedded package has no
	// telemetry reporter, no debug HTTP listener and no state.json file.
	config := &ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: *listenAddr},
		Logger:   logger,
		Handler:  *handler,
	}
	var storage string
	switch *handler {
	case "postgresql":
		config.PostgreSQLURL = *postgresqlURL
		storage = *postgresqlURL
	case "sqlite":
		dir, err := filepath.Abs(*sqliteDir)
		if err == nil {
			err = os.MkdirAll(dir, 0o755)
		}
		if err != nil {
			logger.Error("cannot create SQLite directory", "dir", *sqliteDir, "error", err)
			os.Exit(1)
		}
		config.SQLiteURL = "file:" + dir + "/" // SQLite backend needs a directory URI with a trailing slash
		storage = dir
	default:
		fmt.Fprintf(os.Stderr, "invalid --handler %q: postgresql or sqlite\n", *handler)
		os.Exit(2)
	}

	f, err := ferretdb.New(config)
	if err != nil {
		logger.Error("cannot start FerretDB", "error", err)
		os.Exit(1)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// Do not call f.MongoDBURI() before Run: upstream documents a possible deadlock.
	logger.Info("FerretDB starting", "version", moduleVersion(), "listen", *listenAddr, "handler", *handler, "storage", storage)
	if err := f.Run(ctx); err != nil {
		logger.Error("FerretDB stopped with error", "error", err)
		os.Exit(1)
	}
	logger.Info("FerretDB stopped")
}
