"""The walls between zones: TLS material, network namespaces, and the audits that prove them
(listening sockets, secret file modes, a reachability matrix probed from every namespace)."""
