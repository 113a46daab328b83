"""Files rendered from the platform's settings: the Serve config a zone deploys and the
KubeRay manifests in ``deploy/``."""
