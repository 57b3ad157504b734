"""A Kubernetes API simulator for tests: real HTTP(S) on loopback that kubectl accepts,
a Job controller and a kubelet that runs containers as local processes.
Run: python3 -m k8s_sim --state-dir DIR [--tls] [--port 0] [--image-map IMAGE=ROOTDIR]."""
