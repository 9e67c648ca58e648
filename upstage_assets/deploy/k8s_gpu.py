"""Kubernetes placement for GPU steps: the `dagster-k8s/config` op tag that k8s_job_executor reads.

Assets tagged ``gpu: "true"`` also carry this tag so, on Kubernetes, their step pod asks the
scheduler for whole NVIDIA GPUs, lands only on GPU nodes, and tolerates the taint GPU node pools
usually carry. Elsewhere (local, ECS) the tag is inert.
"""

from __future__ import annotations

import json
from typing import Any

USER_DEFINED_K8S_CONFIG_TAG = "dagster-k8s/config"
GPU_TAG = "gpu"
GPU_RESOURCE = "nvidia.com/gpu"
#: Label set by the NVIDIA GPU operator / GKE / EKS GPU AMIs on nodes that have a GPU.
GPU_NODE_LABEL = "nvidia.com/gpu.present"


def gpu_k8s_config(gpus: int = 1, cpu: str = "4", memory: str = "16Gi") -> dict[str, Any]:
    """The dagster-k8s user-defined config for a step that needs `gpus` whole GPUs."""
    if gpus < 1:
        raise ValueError("a GPU step needs at least one GPU")
    return {
        "container_config": {
            "resources": {
                # Extended resources must have requests == limits; setting limits alone implies that.
                "limits": {GPU_RESOURCE: str(gpus), "memory": memory},
                "requests": {GPU_RESOURCE: str(gpus), "cpu": cpu, "memory": memory},
            },
        },
        "pod_spec_config": {
            "node_selector": {GPU_NODE_LABEL: "true"},
            "tolerations": [
                {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"},
            ],
        },
    }


def gpu_op_tags(gpus: int = 1, cpu: str = "4", memory: str = "16Gi") -> dict[str, str]:
    """Op tags for a GPU asset: the pool/queue tag plus the k8s placement (JSON, as dagster-k8s parses it)."""
    return {
        GPU_TAG: "true",
        USER_DEFINED_K8S_CONFIG_TAG: json.dumps(gpu_k8s_config(gpus, cpu, memory), sort_keys=True),
    }


GPU_OP_TAGS: dict[str, str] = gpu_op_tags()
