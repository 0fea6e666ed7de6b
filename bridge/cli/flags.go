package cli

import (
	"flag"
	"net"
	"os"

	"github.com/hookbridge/hookbridge/bridge/app"
)

// flags are the command-line settings shared by the commands that read a configuration. A flag
// beats an option.
type flags struct {
	options   string
	data      string
	policies  string
	schemas   string
	httpAddr  string
	adminAddr string
	mqttAddr  string
	// underSupervisor is true when the Supervisor started us (SUPERVISOR_TOKEN is set).
	underSupervisor bool
	// noSync turns fsync off: for benchmarks measuring its cost only. Not documented for users.
	noSync bool
}

// commonFlags registers the shared flags on fset.
func commonFlags(fset *flag.FlagSet) *flags {
	f := &flags{underSupervisor: os.Getenv("SUPERVISOR_TOKEN") != ""}
	fset.StringVar(&f.options, "options", "", "options `FILE` (default /data/options.json if it exists, else ./data/options.json)")
	fset.StringVar(&f.data, "data", "", "data `DIR` (default /data if it exists, else ./data)")
	fset.StringVar(&f.policies, "policies", "", "extra vendor policies `DIR`, over the built-in ones")
	fset.StringVar(&f.schemas, "schemas", "", "extra vendor schemas `DIR`, over the built-in ones")
	fset.StringVar(&f.httpAddr, "http-addr", ":8080", "partner listener `ADDR`")
	fset.StringVar(&f.adminAddr, "admin-addr", "", "admin, ingress and metrics listener `ADDR` (default 127.0.0.1:8099; :8099 under the Supervisor)")
	fset.StringVar(&f.mqttAddr, "mqtt-addr", ":1883", "embedded MQTT broker `ADDR`")
	fset.BoolVar(&f.noSync, "unsafe-no-fsync", false, "")
	return f
}

// resolve fills the path defaults: /data when it exists (under the Supervisor), else ./data.
func (f *flags) resolve() {
	if f.data == "" {
		f.data = "./data"
		if st, err := os.Stat("/data"); err == nil && st.IsDir() {
			f.data = "/data"
		}
	}
	if f.options == "" {
		f.options = "./data/options.json"
		if _, err := os.Stat("/data/options.json"); err == nil {
			f.options = "/data/options.json"
		}
	}
	// Under the Supervisor, the app's own config folder (map: addon_config) holds the user's extra
	// vendor catalog.
	if f.underSupervisor {
		for dst, dir := range map[*string]string{&f.policies: "/config/policies", &f.schemas: "/config/schemas"} {
			if st, err := os.Stat(dir); *dst == "" && err == nil && st.IsDir() {
				*dst = dir
			}
		}
	}
	if f.adminAddr == "" {
		f.adminAddr = "127.0.0.1:8099"
		if f.underSupervisor {
			f.adminAddr = ":8099"
		}
	}
}

// files is where the flags say the configuration is.
func (f *flags) files(p Program) app.Files {
	return app.Files{Builtin: p.Catalog, Policies: f.policies, Schemas: f.schemas, Options: f.options}
}

// appConfig is the App configuration the flags describe, without options and catalog.
func (f *flags) appConfig(p Program) app.Config {
	return app.Config{DataDir: f.data, HTTPAddr: f.httpAddr, AdminAddr: f.adminAddr, MQTTAddr: f.mqttAddr,
		UnderSupervisor: f.underSupervisor, NoSync: f.noSync, Version: p.Version}
}

// dialable turns a listen address like ":8080" into one to connect to.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
