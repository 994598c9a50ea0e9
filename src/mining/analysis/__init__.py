"""Silent dissatisfaction, complaint iceberg, customers at risk, SLA and drivers."""
