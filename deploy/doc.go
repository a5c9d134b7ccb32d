// Package deploy holds no code: it is the home of the deployment files
// (Dockerfile, Kubernetes kustomize base, systemd unit, IAM policy
// examples) and of the tests that check them: a strict decode of every
// manifest into the Kubernetes API types, the cross references between
// them (labels, ports, config keys, the image's user), the example config
// through the broker's own validator, the IAM policy resource ARNs, the
// Dockerfile's stages and `systemd-analyze verify` on the unit.
package deploy
