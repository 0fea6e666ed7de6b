// Package manifest holds no code, only tests: they check the Home Assistant app packaging at the
// repository root (config.yaml, translations/en.yaml, Dockerfile, scripts/build, icon.png, logo.png)
// against the community app linter's schema and rules, the Supervisor's option grammar, and the
// app's own options loader, so a mistake fails CI instead of making the app vanish from the store.
package manifest
