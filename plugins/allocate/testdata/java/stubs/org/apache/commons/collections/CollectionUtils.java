package org.apache.commons.collections;

import java.util.Collection;

// Stub of the one commons-collections method the strategies use.
public class CollectionUtils {
    public static boolean isEmpty(Collection coll) {
        return coll == null || coll.isEmpty();
    }
}
