package testbroker

import (
	"log/slog"

	"github.com/connbroker/connbroker/broker/config"
	"github.com/connbroker/connbroker/broker/credential"
)

// iamOptions turns the iam config section into IAM issuer options.
func iamOptions(cfg *config.Config, log *slog.Logger) []credential.IAMOption {
	opts := []credential.IAMOption{credential.WithLogger(log)}
	if cfg.IAM.RefreshAfter > 0 {
		opts = append(opts, credential.WithRefreshAfter(cfg.IAM.RefreshAfter))
	}
	return opts
}
