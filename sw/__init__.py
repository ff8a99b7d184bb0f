"""RO-SVD traceability appliance: host software (the ``rosvd`` package)."""
