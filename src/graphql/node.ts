import { Arg, Ctx, Field, ID, InterfaceType, Query, Resolver } from 'type-graphql';
import type { GatewayContext } from './context';

/** Anything with a global id that `node(id)` can fetch. */
@InterfaceType({ description: 'An object with a global ID.' })
export abstract class Node {
  @Field(() => ID)
  id: string;
}

/** Looks an id up in one capability, in the request's organization (`ctx.org`); null when it has no such id there. */
export type NodeFetcher = (ctx: GatewayContext, id: string) => Promise<Node | null>;

/** The fetchers of every capability with global ids; the composition root lists them (src/app/services.ts). */
type NodeContext = GatewayContext<{ nodeFetchers: readonly NodeFetcher[] }>;

@Resolver()
export class NodeResolver {
  @Query(() => Node, { nullable: true, description: "Any object by its ID; null when it is not the organization's." })
  async node(@Arg('id', () => ID) id: string, @Ctx() ctx: NodeContext): Promise<Node | null> {
    for (const fetch of ctx.services.nodeFetchers) {
      const found = await fetch(ctx, id);
      if (found) return found;
    }
    return null;
  }
}
