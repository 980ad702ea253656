"""Search indexing entry points: catalog changes (CatalogChanged outbox events locally,
DynamoDB Stream records on AWS) feed the search index."""
