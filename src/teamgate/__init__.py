"""teamgate: team access control for shared workflows and Terraform state."""

__version__ = "0.1.0"
