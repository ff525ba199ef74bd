import { Ctx, Query, Resolver } from 'type-graphql';
import { Organization } from './organization.entity';
import { GatewayContext, requirePrincipal } from '../graphql/context';

@Resolver(() => Organization)
export class OrganizationResolver {
  @Query(() => Organization, { description: 'The organization that owns the API key of this request.' })
  organization(@Ctx() ctx: GatewayContext): Organization {
    const principal = requirePrincipal(ctx);
    // Authentication already read the organization in the same query as the key.
    return Object.assign(new Organization(), { id: principal.organizationId, name: principal.organizationName });
  }
}
