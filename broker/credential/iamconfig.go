package credential

import "github.com/connbroker/connbroker/broker/config"

// IAMOptionsFromConfig returns the IAM issuer options the configuration
// asks for (iam.refresh_after); none when it keeps the defaults.
func IAMOptionsFromConfig(cfg *config.Config) []IAMOption {
	var opts []IAMOption
	if cfg.IAM.RefreshAfter > 0 {
		opts = append(opts, WithRefreshAfter(cfg.IAM.RefreshAfter))
	}
	return opts
}
