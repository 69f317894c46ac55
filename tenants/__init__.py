"""Tenancy domain: workspaces, members, invitations and quotas (no HTTP here)."""
