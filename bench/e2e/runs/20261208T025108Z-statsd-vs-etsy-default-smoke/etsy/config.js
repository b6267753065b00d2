{
  servers: [
    { server: "./servers/udp", address: "127.0.0.1", port: 34941 },
    { server: "./servers/tcp", address: "127.0.0.1", port: 34941 }
  ],
  mgmt_address: "127.0.0.1", mgmt_port: 35349,
  flushInterval: 2000,
  graphiteHost: "127.0.0.1", graphitePort: 37139,
  backends: ["./backends/graphite"]
}
